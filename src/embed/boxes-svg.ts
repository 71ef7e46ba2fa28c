/**
 * The text boxes as an SVG overlay in the image's own pixel space
 * (`viewBox`), so it scales with the image however the image is laid out.
 */
import type { OcrLine } from '../engine/ocr/types.ts';

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @example
 * figure.append(img, boxesSvg(result.lines, img.naturalWidth, img.naturalHeight));
 */
export function boxesSvg(lines: readonly OcrLine[], width: number, height: number, doc: Document = document): SVGSVGElement {
  const svg = doc.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('aria-hidden', 'true');
  svg.classList.add('boxes');
  lines.forEach((line, i) => {
    const polygon = doc.createElementNS(SVG, 'polygon');
    polygon.setAttribute('points', line.box.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' '));
    polygon.setAttribute('vector-effect', 'non-scaling-stroke');
    polygon.dataset.line = String(i);
    const title = doc.createElementNS(SVG, 'title');
    title.textContent = `${line.text} (${(line.score * 100).toFixed(0)}%)`;
    polygon.append(title);
    svg.append(polygon);
  });
  return svg;
}
