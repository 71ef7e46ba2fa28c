/**
 * End to end outside workerd's test harness: the real `wrangler dev` (workerd,
 * local R2 in a temp persist dir) on a free loopback port, a pack published by
 * the CLI's own code over HTTP, then read back with a ranged GET. About 5-8 s
 * here, most of it wrangler's start.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest } from '../../src/pack/build-manifest.ts';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { runCliCaptured } from '../helpers/run-cli.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

const TOKEN = 'e2e-admin-token';

describe('wrangler dev end to end', () => {
  let dev: WranglerDev;
  let base: string;
  const work = mkdtempSync(join(tmpdir(), 'tessera-wrangler-pack-'));

  beforeAll(async () => {
    dev = await startWranglerDev({ vars: { TESSERA_ADMIN_TOKEN: TOKEN } });
    base = dev.base;
  }, 60_000);

  afterAll(async () => {
    await dev?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('publishes a pack with the CLI code and serves a range from local R2', async () => {
    const packDir = join(work, 'pack');
    const graph = new Uint8Array(randomBytes(4000));
    const weights = new Uint8Array(randomBytes(300_000));
    const manifest = await buildManifest({
      name: 'e2e-mlp',
      kind: 'onnx',
      graphs: [{ path: 'model.onnx', externalData: ['model.onnx.data'] }],
      files: [
        { path: 'model.onnx', bytes: graph, role: 'graph' },
        { path: 'model.onnx.data', bytes: weights, role: 'external-data' },
      ],
      chunkSize: 65536,
    });
    mkdirSync(packDir, { recursive: true });
    writeFileSync(join(packDir, 'model.onnx'), graph);
    writeFileSync(join(packDir, 'model.onnx.data'), weights);
    writeFileSync(join(packDir, 'manifest.json'), JSON.stringify(manifest));

    // First through the command itself, as a user would run it.
    const noToken = await runCliCaptured(['publish', packDir, '--to', base, '--token', 'wrong']);
    expect(noToken.code).toBe(1);
    expect(noToken.err).toContain('error [unauthorized]');
    const { code, out, err } = await runCliCaptured(['publish', packDir, '--to', base, '--token', TOKEN]);
    expect(code, err).toBe(0);
    expect(out).toContain(`published e2e-mlp revision ${manifest.revision}`);
    expect(out).toContain('uploaded 2 file(s)');
    const second = await publishDir(packDir, { baseUrl: base, token: TOKEN });
    expect(second).toMatchObject({ uploadedFiles: 0, skippedFiles: 2 });

    const current = await fetch(`${base}/models/e2e-mlp/manifest.json`);
    expect(((await current.json()) as { revision: string }).revision).toBe(manifest.revision);
    const res = await fetch(`${base}/models/e2e-mlp/${manifest.revision}/model.onnx.data`, { headers: { Range: 'bytes=1000-1999' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('Content-Range')).toBe('bytes 1000-1999/300000');
    expect(res.headers.get('ETag')).toBe(`"${manifest.files.find((f) => f.path === 'model.onnx.data')!.sha256}"`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(weights.subarray(1000, 2000));
  });
});
