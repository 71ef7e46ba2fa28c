/** The CLI's `file:` fetch answers ranges as the Worker does (parseRange). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileFetch } from './file-fetch.ts';

let dir: string;
let url: string;
const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-file-fetch-'));
  await writeFile(join(dir, 'w.bin'), bytes);
  url = pathToFileURL(join(dir, 'w.bin')).href;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const get = (range?: string) => fileFetch(url, range === undefined ? {} : { headers: { Range: range } });

describe('fileFetch', () => {
  it('sends the whole file without Range, and for a malformed one', async () => {
    for (const range of [undefined, 'bytes=5-2']) {
      const res = await get(range);
      expect(res.status).toBe(200);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    }
  });

  it.each([
    ['bytes=10-19', 10, 19],
    ['bytes=90-', 90, 99],
    ['bytes=-5', 95, 99],
  ])('answers %s with 206', async (range, start, end) => {
    const res = await get(range);
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/100`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes.slice(start, end + 1));
  });

  it.each([['bytes=100-'], ['bytes=0-1,5-6']])('answers %s with 416 bytes */size', async (range) => {
    const res = await get(range);
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */100');
  });

  it('answers a missing file with 404', async () => {
    expect((await fileFetch(pathToFileURL(join(dir, 'nope.bin')).href)).status).toBe(404);
  });
});
