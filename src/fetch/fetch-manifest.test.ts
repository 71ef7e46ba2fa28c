import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRangeServer, type RangeServer } from '../../test/helpers/range-server.ts';
import { writeRandomPack } from '../../test/helpers/random-pack.ts';
import { isTesseraError } from '../errors.ts';
import type { PackManifest } from '../pack/manifest.ts';
import { fetchManifestSource } from './fetch-manifest.ts';
import { loadPack } from './load-pack.ts';

const FAST_RETRY = { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 };
let root: string;
let server: RangeServer;
let pack: { manifest: PackManifest; files: Map<string, Uint8Array> };
/** A server that answers a "current" manifest naming another base with Content-Location. */
let locating: Server;
let locatingUrl: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-manifest-'));
  pack = await writeRandomPack(join(root, 'p'), { name: 'p', chunkSize: 4096, files: [{ path: 'm.onnx', size: 5000 }] });
  server = await startRangeServer({ root });
  locating = createServer((req, res) => {
    const location = req.url === '/cross/manifest.json' ? 'http://elsewhere.invalid/x/manifest.json' : '/rev123/manifest.json';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Location': location });
    res.end(JSON.stringify(pack.manifest));
  });
  await new Promise<void>((resolve) => locating.listen(0, '127.0.0.1', resolve));
  locatingUrl = `http://127.0.0.1:${(locating.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => locating?.close(resolve));
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  server.setFaults([]);
  server.resetStats();
});

describe('fetchManifestSource', () => {
  it('retries a 503 on the manifest like a chunk fetch, and the load goes on', async () => {
    server.setFaults([{ type: 'status', status: 503, count: 2, path: 'manifest.json' }]);
    const loaded = await loadPack(`${server.url}/p/manifest.json`, { cache: 'memory', retry: FAST_RETRY });
    expect(loaded.manifest.revision).toBe(pack.manifest.revision);
    expect(loaded.stats.retries).toBe(2);
    const manifestStats = Object.entries(server.stats().byPath).find(([path]) => path.endsWith('manifest.json'))?.[1];
    expect(manifestStats?.requests).toBe(3);
  });

  it('gives up after the configured tries with the status, and never retries a 404', async () => {
    server.setFaults([{ type: 'status', status: 503, path: 'manifest.json' }]);
    const err = await fetchManifestSource(`${server.url}/p/manifest.json`, { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } }).catch((e: unknown) => e);
    expect(isTesseraError(err, 'http-error')).toBe(true);
    expect((err as { details: { status: number } }).details.status).toBe(503);
    server.setFaults([]);
    let tries = 0;
    const missing = await fetchManifestSource(`${server.url}/nope/manifest.json`, { retry: FAST_RETRY, onRetry: () => tries++ }).catch((e: unknown) => e);
    expect(isTesseraError(missing, 'not-found')).toBe(true);
    expect(tries).toBe(0);
  });

  it('stops waiting between tries when aborted', async () => {
    server.setFaults([{ type: 'status', status: 503, path: 'manifest.json' }]);
    const controller = new AbortController();
    const started = Date.now();
    const pending = fetchManifestSource(`${server.url}/p/manifest.json`, { signal: controller.signal, retry: { attempts: 10, baseDelayMs: 10_000, maxDelayMs: 10_000 }, onRetry: () => controller.abort() });
    const err = await pending.catch((e: unknown) => e);
    expect(isTesseraError(err, 'aborted')).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('resolves files against a same-origin Content-Location, and ignores one on another origin', async () => {
    const same = await fetchManifestSource(`${locatingUrl}/models/p/manifest.json`);
    expect(same.manifestUrl).toBe(`${locatingUrl}/rev123/manifest.json`);
    const cross = await fetchManifestSource(`${locatingUrl}/cross/manifest.json`);
    expect(cross.manifestUrl).toBe(`${locatingUrl}/cross/manifest.json`);
    // Without the header (a plain static host), files stay next to the manifest.
    expect((await fetchManifestSource(`${server.url}/p/manifest.json`)).manifestUrl).toBe(`${server.url}/p/manifest.json`);
  });
});
