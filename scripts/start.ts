/**
 * `npm start`: everything a new user needs, on one machine, offline.
 *
 *   1. builds the web assets (`npm run build`, when vite.config.ts exists and
 *      the sources changed since the last build),
 *   2. packs the built-in model `ppocr-v4` into .tessera/packs (reused),
 *   3. starts the Worker under `wrangler dev` on http://localhost:${PORT:-8787}
 *      with its state in .tessera/state and fresh admin and join tokens,
 *   4. publishes the pack to local R2 (uploads only what is missing),
 *   5. joins one Node session serving `ppocr-v4` (weights cached in .tessera/cache),
 *   6. waits until the model is ready, reads the demo image through the API,
 *   7. prints the URLs, the API key and a curl example.
 *
 * `npm start -- --model <path>` (repeatable: an .onnx file, a Hugging Face-style
 * folder or a pack) also packs, publishes and serves those models, in a second
 * session beside the built-in one, and prints how to call each
 * (scripts/lib/user-models.ts).
 *
 * Ctrl-C (SIGINT/SIGTERM) stops all of it: the sessions leave, and wrangler's
 * process group (wrangler, esbuild, workerd) is terminated.
 * Environment: PORT, TESSERA_API_KEY, TESSERA_ADMIN_TOKEN (so `tessera publish`
 * works against it with a token you chose), TESSERA_SKIP_BUILD=1,
 * TESSERA_HOME (default .tessera).
 * Secrets reach wrangler through a 0600 file in the state folder, never its command line (scripts/lib/wrangler-dev.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL, prepareDefaultModel } from '../src/cli/commands/prepare.ts';
import { publishDir } from '../src/cli/commands/publish.ts';
import { serve } from '../src/cli/commands/serve.ts';
import { parseDeviceFlag } from '../src/cli/device-flag.ts';
import type { DeviceRequest } from '../src/protocol/device.ts';
import type { ServeSession } from '../src/cli/commands/serve.ts';
import { progressLine } from './lib/progress-line.ts';
import { startWranglerDev, type WranglerDev } from './lib/wrangler-dev.ts';
import { packRuntimeAssets, RUNTIME_PACK } from './lib/runtime-pack.ts';
import { callExample, modelArgs, prepareUserModel, type UserModel } from './lib/user-models.ts';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
/** Generated files (pack, local R2 and Durable Objects, weight cache); TESSERA_HOME moves them (tests). */
const STATE = process.env.TESSERA_HOME ?? join(ROOT, '.tessera');
const DEMO = join(ROOT, 'public', 'demo', 'hello.png');
const log = (line: string) => process.stderr.write(`${line}\n`);

/** `npm start -- --device cpu` (or TESSERA_DEVICE): where the local session runs its models; default auto. */
function deviceArg(argv: string[]): DeviceRequest {
  const i = argv.findIndex((a) => a === '--device' || a.startsWith('--device='));
  const value = i < 0 ? process.env.TESSERA_DEVICE : argv[i]!.includes('=') ? argv[i]!.slice('--device='.length) : argv[i + 1];
  return value === undefined ? 'auto' : parseDeviceFlag(value);
}
const token = () => randomBytes(24).toString('base64url');

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Newest modification time under the given paths (files and folders, recursively). */
function newestMtime(paths: string[]): number {
  let newest = 0;
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const info = statSync(p);
    newest = Math.max(newest, info.mtimeMs);
    if (info.isDirectory()) for (const entry of readdirSync(p)) walk(join(p, entry));
  };
  paths.forEach(walk);
  return newest;
}

/** `npm run build` when there is a Vite build and its inputs changed since the last one. */
async function buildWebAssets(): Promise<void> {
  if (!existsSync(join(ROOT, 'vite.config.ts')) || process.env.TESSERA_SKIP_BUILD === '1') return;
  const stampPath = join(ROOT, 'dist', '.tessera-build.json');
  const inputs = newestMtime(['vite.config.ts', 'src', 'public', 'package-lock.json'].map((p) => join(ROOT, p)));
  const stamp = existsSync(stampPath) ? (JSON.parse(readFileSync(stampPath, 'utf8')) as { inputs: number }) : undefined;
  if (stamp?.inputs === inputs) {
    log('web assets: up to date (dist/)');
    return;
  }
  const started = Date.now();
  log('web assets: npm run build ...');
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (c) => resolve(c ?? 1));
  });
  if (code !== 0) throw new Error(`npm run build failed (exit ${code}); fix the build or set TESSERA_SKIP_BUILD=1`);
  writeFileSync(stampPath, JSON.stringify({ inputs }));
  log(`web assets: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function waitReady(url: string, apiKey: string, model = DEFAULT_MODEL, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${url}/v2/models/${model}/ready`, { headers: { Authorization: `Bearer ${apiKey}` } }).catch(() => undefined);
    await res?.arrayBuffer();
    if (res?.ok) return;
    if (Date.now() > deadline) throw new Error(`${model} was not ready within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let dev: WranglerDev | undefined;
let session: ServeSession | undefined;
/** The session serving the `--model` models, when any were given. */
let userSession: ServeSession | undefined;
const controller = new AbortController();
let stopping = false;

/** Stops what this script started (the session, then wrangler's process group) and exits. */
async function shutdown(reason: string, code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`${reason}: stopping ...`);
  controller.abort();
  // Bounded: a coordinator that never completes the close handshake must not keep wrangler running.
  await Promise.race([Promise.all([session?.close().catch(() => undefined), userSession?.close().catch(() => undefined)]), new Promise((r) => setTimeout(r, 500))]);
  await dev?.stop();
  log('stopped.');
  process.exit(code);
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void shutdown('\nSIGINT', 0));
  process.on('SIGTERM', () => void shutdown('\nSIGTERM', 0));
  const t0 = Date.now();
  const userPaths = modelArgs(process.argv.slice(2));
  const port = Number(process.env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`PORT must be a TCP port number, got "${process.env.PORT}"`);
  if (!(await portIsFree(port))) throw new Error(`port ${port} is in use (another npm start?); stop it or run PORT=<other> npm start`);
  const apiKey = process.env.TESSERA_API_KEY ?? token();
  const adminToken = process.env.TESSERA_ADMIN_TOKEN ?? token();
  const device = deviceArg(process.argv.slice(2));
  const joinToken = token();

  await buildWebAssets();

  const packing = progressLine(`packing ${DEFAULT_MODEL}`);
  const pack = await prepareDefaultModel({ root: STATE, onProgress: (p) => packing.update(p.bytesDone, p.bytesTotal, p.file) });
  packing.end(`${pack.built ? 'packed' : 'reused'} revision ${pack.manifest.revision.slice(0, 12)} (${(pack.manifest.totalBytes / 1e6).toFixed(1)} MB) in ${relative(ROOT, pack.packDir)}`);
  const userModels: UserModel[] = [];
  for (const path of userPaths) {
    log(`--model ${path}: packing ...`);
    const m = await prepareUserModel(path, STATE);
    if (m.name === DEFAULT_MODEL || userModels.some((u) => u.name === m.name)) throw new Error(`--model ${path}: a model named "${m.name}" is already served; rename the file or folder`);
    userModels.push(m);
    log(`--model ${path}: ${m.built ? 'packed' : 'reused'} "${m.name}" revision ${m.manifest.revision.slice(0, 12)} (${(m.manifest.totalBytes / 1e6).toFixed(1)} MB${m.generation ? ', text generation' : ''})`);
  }

  log(`worker: wrangler dev on port ${port} ...`);
  const tDev = Date.now();
  dev = await startWranglerDev({
    port,
    cwd: ROOT,
    persistTo: join(STATE, 'state'),
    // The PWA and embed.js from `vite build`, at / beside the Worker's API routes.
    ...(existsSync(join(ROOT, 'dist', 'index.html')) ? { assets: join(ROOT, 'dist') } : {}),
    vars: { TESSERA_ADMIN_TOKEN: adminToken, TESSERA_JOIN_TOKEN: joinToken, TESSERA_API_KEY: apiKey },
  });
  log(`worker: up in ${((Date.now() - tDev) / 1000).toFixed(1)} s`);
  if (stopping) return;

  const baseUrl = dev.url;
  const publish = async (name: string, packDir: string) => {
    const line = progressLine(`publishing ${name}`);
    const r = await publishDir(packDir, {
      baseUrl, token: adminToken, signal: controller.signal,
      onProgress: (e) => {
        if (e.type === 'upload') line.update(e.loadedBytes, e.missingBytes, e.path);
      },
    });
    line.end(`${r.uploadedFiles} file(s) uploaded, ${r.skippedFiles} already in local R2`);
  };
  await publish(DEFAULT_MODEL, pack.packDir);
  for (const m of userModels) await publish(m.name, m.packDir);
  // The app's ONNX Runtime wasm (too big for Workers static assets) goes to R2 as a pack.
  const runtime = await packRuntimeAssets(join(ROOT, 'dist'), join(STATE, 'packs', RUNTIME_PACK));
  if (runtime) await publish(RUNTIME_PACK, runtime.packDir);

  const loading = progressLine(`loading ${DEFAULT_MODEL}`);
  const tLoad = Date.now();
  let fromCache = 0;
  let fromNetwork = 0;
  session = await serve({
    coordinator: dev.url, models: [DEFAULT_MODEL], joinToken, signal: controller.signal, device,
    cache: { type: 'fs', dir: join(STATE, 'cache') },
    onProgress: (_model, p) => {
      fromCache = p.bytesFromCache;
      fromNetwork = p.bytesFromNetwork;
      loading.update(p.bytesDone, p.bytesTotal, p.phase === 'session' ? '(creating sessions)' : `(${(p.bytesFromCache / 1e6).toFixed(1)} MB from cache)`);
    },
    onEvent: (e) => {
      if (e.type === 'disconnected' && !stopping) log(`session: disconnected (${e.code} ${e.reason}), retrying`);
    },
  });
  await session.joined();
  loading.end(`session joined in ${((Date.now() - tLoad) / 1000).toFixed(1)} s (${(fromNetwork / 1e6).toFixed(1)} MB from the network, ${(fromCache / 1e6).toFixed(1)} MB from cache)`);
  log(`session: device ${session.device} (${session.deviceReason}); declared ${session.requestsPerSecond} requests/s (measured)`);
  await waitReady(dev.url, apiKey);

  // Prove it works: the demo image through the public API, as a user would send it.
  const image = readFileSync(DEMO).toString('base64');
  const tReq = Date.now();
  const res = await fetch(`${dev.url}/v1/models/${DEFAULT_MODEL}:predict`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ instances: [{ image }] }),
  });
  const body = (await res.json()) as { predictions?: { text: string }[]; error?: { code: string; message: string } };
  if (!res.ok || !body.predictions) throw new Error(`the demo request failed: HTTP ${res.status} ${JSON.stringify(body.error ?? body)}`);
  const text = body.predictions[0]?.text ?? '';
  const requestMs = Date.now() - tReq;

  const examples: string[] = [];
  if (userModels.length > 0) {
    const names = userModels.map((m) => m.name);
    log(`loading ${names.join(', ')} ...`);
    userSession = await serve({
      coordinator: dev.url, models: names, joinToken, signal: controller.signal, device, cache: { type: 'fs', dir: join(STATE, 'cache') },
      onEvent: (e) => {
        if (e.type === 'disconnected' && !stopping) log(`session (${names.join(', ')}): disconnected (${e.code} ${e.reason}), retrying`);
      },
    });
    await userSession.joined();
    for (const m of userModels) {
      await waitReady(dev.url, apiKey, m.name);
      const lines = await callExample(`http://localhost:${port}`, apiKey, m);
      examples.push('', `${m.name}${lines.some((l) => l.includes('/v1/chat/completions')) ? ' (text generation, OpenAI chat/completions)' : ''}:`, ...lines);
    }
  }

  const app = `http://localhost:${port}`;
  const demo = relative(process.cwd(), DEMO) || DEMO;
  process.stdout.write(
    [
      '',
      `Tessera is running (started in ${((Date.now() - t0) / 1000).toFixed(1)} s). Demo image read as "${text}" in ${requestMs} ms.`,
      '',
      `  App         ${app}/`,
      `  Manifest    ${app}/models/${DEFAULT_MODEL}/manifest.json`,
      `  Metrics     ${app}/metrics`,
      `  Dashboard   ${app}/dashboard   (sign in with the admin token)`,
      `  Model       ${app}/v2/models/${DEFAULT_MODEL}`,
      `  API key     ${apiKey}`,
      `  Admin token ${adminToken}   (npx tessera publish <pack> --to ${app} --token ...)`,
      `  Join token  ${joinToken}   (the app's "Serve requests" switch, or npx tessera serve)`,
      '',
      'Try it:',
      `  curl -s ${app}/v1/models/${DEFAULT_MODEL}:predict \\`,
      `    -H "Authorization: Bearer ${apiKey}" -H "Content-Type: application/json" \\`,
      `    -d "{\\"instances\\": [{\\"image\\": \\"$(base64 -w0 ${demo})\\"}]}"`,
      ...examples,
      '',
      `Ready on ${app} (Ctrl-C to stop)`,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  if (stopping) return;
  log(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  void shutdown('error', 1);
});
