import { describe, expect, it } from 'vitest';
import { ndjsonLines } from './ndjson-lines.ts';
import { textStream } from '../../test/helpers/text-stream.ts';


describe('ndjsonLines', () => {
  it('joins lines split across chunks, skips blank lines, and yields an unterminated last line', async () => {
    const lines: string[] = [];
    for await (const line of ndjsonLines(textStream(['{"a":', '1}\n\n{"b"', ':2}\r\n', '{"c":3}']))) lines.push(line);
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('a multi-byte character split across chunks stays whole', async () => {
    const bytes = new TextEncoder().encode('{"m":"ü"}\n');
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 7));
        c.enqueue(bytes.slice(7));
        c.close();
      },
    });
    const lines: string[] = [];
    for await (const line of ndjsonLines(stream)) lines.push(line);
    expect(lines).toEqual(['{"m":"ü"}']);
  });

  it('cancels the source when the reader leaves early', async () => {
    let cancelled = false;
    for await (const line of ndjsonLines(textStream(['1\n2\n', '3\n'], () => (cancelled = true)))) if (line === '1') break;
    expect(cancelled).toBe(true);
  });

  it('an abort cancels a quiet source at once (no line needs to arrive first)', async () => {
    let cancelled = false;
    const quiet = new ReadableStream<Uint8Array>({ cancel: () => void (cancelled = true) });
    const stop = new AbortController();
    const lines: string[] = [];
    const reading = (async () => {
      for await (const line of ndjsonLines(quiet, stop.signal)) lines.push(line);
    })();
    await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    await reading;
    expect(cancelled).toBe(true);
    expect(lines).toEqual([]);
  });
});
