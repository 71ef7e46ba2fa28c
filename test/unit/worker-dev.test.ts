/**
 * End to end outside workerd's test harness: the real `wrangler dev` (workerd,
 * local R2 in a temp persist dir) on a free loopback port, a pack published by
 * the CLI's own code over HTTP, then read back with a ranged GET. About 5-8 s
 * here, most of it wrangler's start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest } from '../../src/pack/build-manifest.ts';
import { publishDir } from '../../src/cli/commands/publish.ts';
import { runCli } from '../../src/cli/main.ts';
import { PassThrough } from 'node:stream';

const TOKEN = 'e2e-admin-token';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitUntilUp(url: string, child: ChildProcess, log: () => string, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${log()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`wrangler dev did not answer within ${timeoutMs} ms:\n${log()}`);
}

describe('wrangler dev end to end', () => {
  let child: ChildProcess;
  let base: string;
  let output = '';
  const work = mkdtempSync(join(tmpdir(), 'tessera-wrangler-'));

  beforeAll(async () => {
    const [port, inspectorPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${port}`;
    const nodeBin = dirname(process.execPath);
    child = spawn(
      'npx',
      ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort),
        '--persist-to', join(work, 'state'), '--var', `TESSERA_ADMIN_TOKEN:${TOKEN}`, '--show-interactive-dev-session=false'],
      {
        // Wrangler needs Node >= 22: put this process's Node first on PATH.
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', PATH: `${nodeBin}:${process.env.PATH ?? ''}` },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitUntilUp(`${base}/`, child, () => output);
  }, 60_000);

  afterAll(async () => {
    if (child?.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(-child.pid, 'SIGTERM'); // the group we created: wrangler, esbuild, workerd
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
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
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const noToken = await runCli(['publish', packDir, '--to', base, '--token', 'wrong'], { stdout, stderr });
    expect(noToken).toBe(1);
    expect(err).toContain('error [unauthorized]');
    const code = await runCli(['publish', packDir, '--to', base, '--token', TOKEN], { stdout, stderr });
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
