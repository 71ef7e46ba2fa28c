/**
 * Reading an image: choose, drop or paste one; show it with the text boxes
 * drawn over it, the lines beside it, and the timings.
 */
import { toErrorData } from '../errors.ts';
import { boxesSvg } from '../embed/boxes-svg.ts';
import type { SharedOcrResult } from '../embed/shared-ocr.ts';
import { byId, el } from './dom.ts';
import { acceptImageFiles } from '../embed/accept-image-files.ts';

/**
 * @example
 * ocrPanel((bytes) => shared.recognize(bytes));
 */
export function ocrPanel(read: (bytes: Uint8Array) => Promise<SharedOcrResult>, onResult?: (r: SharedOcrResult) => void): void {
  const zone = byId('drop-zone');
  const input = byId<HTMLInputElement>('file-input');
  const status = byId('ocr-status');
  const result = byId('ocr-result');

  const handle = async (file: Blob) => {
    const bytes = new Uint8Array(await file.arrayBuffer());
    status.classList.remove('error');
    status.textContent = 'Reading the image…';
    try {
      const r = await read(bytes);
      show(bytes, r);
      status.textContent = `Found ${r.lines.length} line${r.lines.length === 1 ? '' : 's'} in ${Math.round(r.totalMs)} ms.`;
      onResult?.(r);
    } catch (error) {
      status.classList.add('error');
      status.textContent = `Could not read the image: ${toErrorData(error).message}`;
    }
  };

  const show = (bytes: Uint8Array, r: SharedOcrResult) => {
    const img = el('img', { alt: 'The image that was read, with the text boxes outlined' });
    const figure = byId('ocr-figure');
    img.addEventListener('load', () => {
      figure.replaceChildren(img, boxesSvg(r.lines, img.naturalWidth, img.naturalHeight));
    });
    img.src = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    byId('ocr-lines').replaceChildren(
      ...(r.lines.length > 0
        ? r.lines.map((line) => el('li', {}, el('span', { className: 'text', textContent: line.text }), el('span', { className: 'score', textContent: `${Math.round(line.score * 100)}%` })))
        : [el('li', { className: 'muted', textContent: 'No text found in this image.' })]),
    );
    const row = (k: string, v: string) => [el('dt', { textContent: k }), el('dd', { textContent: v })];
    byId('ocr-timings').replaceChildren(
      ...row('Detect', `${r.timings.detMs.toFixed(0)} ms`),
      ...row('Orient', `${r.timings.clsMs.toFixed(0)} ms`),
      ...row('Recognise', `${r.timings.recMs.toFixed(0)} ms`),
      ...row('Total', `${r.totalMs.toFixed(0)} ms on ${r.device}`),
    );
    result.hidden = false;
  };

  acceptImageFiles(zone, input, (file) => void handle(file));
  document.addEventListener('paste', (e) => {
    const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (file) void handle(file);
  });
}
