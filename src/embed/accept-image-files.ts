/**
 * Wires a drop zone and its file input: a chosen or dropped file goes to
 * `onFile`, and the zone gets the `over` class while a drag hovers it.
 *
 * @example
 * acceptImageFiles(zone, input, (file) => void read(file));
 */
export function acceptImageFiles(zone: HTMLElement, input: HTMLInputElement, onFile: (file: File) => void): void {
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) onFile(file);
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) onFile(file);
  });
}
