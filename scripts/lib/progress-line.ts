/**
 * One progress line on stderr: rewritten in place on a terminal, printed at
 * most every few seconds (and at the end) when output goes to a file or pipe,
 * so logs stay readable.
 */
export interface ProgressLine {
  update(done: number, total: number, note?: string): void;
  end(message: string): void;
}

/**
 * @example
 * const line = progressLine('packing ppocr-v4'); line.update(5e6, 16e6); line.end('packed');
 */
export function progressLine(label: string, stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): ProgressLine {
  const tty = stream.isTTY === true;
  let last = 0;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  return {
    update(done, total, note) {
      const t = now();
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
      const text = `${label}: ${pct}% (${mb(done)} / ${mb(total)} MB)${note ? ` ${note}` : ''}`;
      if (tty) {
        stream.write(`\r\x1b[2K${text}`);
      } else if (t - last >= 2000) {
        last = t;
        stream.write(`${text}\n`);
      }
    },
    end(message) {
      stream.write(tty ? `\r\x1b[2K${label}: ${message}\n` : `${label}: ${message}\n`);
    },
  };
}
