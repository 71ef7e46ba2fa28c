/**
 * `npm start -- --model <path>` (repeatable): the user's own models beside
 * the built-in one. Each path is an `.onnx` file, a Hugging Face-style folder,
 * or a pack (a folder with a Tessera manifest.json); the first two are packed
 * into <state>/packs/<name> (reused while the source is unchanged), then
 * published and served like the built-in model, and `npm start` prints how to
 * call each.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { MANIFEST_FORMAT, type PackManifest } from '../../src/pack/manifest.ts';
import { packModel } from '../../src/pack/pack-model.ts';

/**
 * The `--model` values in argv (`--model a --model=b`); `--device` is left to
 * start.ts; anything else is an error naming the flags to use.
 *
 * @example
 * modelArgs(['--model', 'm.onnx', '--model=hf/']); // ['m.onnx', 'hf/']
 */
export function modelArgs(argv: string[]): string[] {
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--model') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error('--model needs a path: an .onnx file, a Hugging Face-style folder or a pack');
      paths.push(v);
    } else if (a.startsWith('--model=')) {
      paths.push(a.slice('--model='.length));
    } else if (a === '--device') {
      i++; // read by start.ts's deviceArg
    } else if (!a.startsWith('--device=')) {
      throw new Error(`unknown argument "${a}"; npm start takes --model <path> (repeatable) and --device <device>, e.g. npm start -- --model ./my-model.onnx`);
    }
  }
  return paths;
}

function readPackManifest(dir: string): PackManifest | undefined {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  const m = JSON.parse(readFileSync(path, 'utf8')) as PackManifest;
  return m.format === MANIFEST_FORMAT ? m : undefined;
}

/** Newest mtime and total size of a file or folder tree: a cheap "did the source change" stamp. */
function stampOf(path: string): string {
  let newest = 0;
  let size = 0;
  const walk = (p: string): void => {
    const info = statSync(p);
    newest = Math.max(newest, info.mtimeMs);
    if (info.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else size += info.size;
  };
  walk(path);
  return `${Math.round(newest)}:${size}`;
}


export interface UserModel {
  name: string;
  packDir: string;
  manifest: PackManifest;
  /** A decoder for text generation (its folder has generation_config.json). */
  generation: boolean;
  /** Packed now (false: an existing pack, or reused). */
  built: boolean;
}

/**
 * @example
 * const m = await prepareUserModel('./tiny-llama', '.tessera'); // packs into .tessera/packs/tiny-llama
 */
export async function prepareUserModel(input: string, stateDir: string): Promise<UserModel> {
  const path = resolve(input);
  if (!existsSync(path)) throw new Error(`--model ${input}: no such file or folder`);
  const asPack = statSync(path).isDirectory() ? readPackManifest(path) : undefined;
  const describe = (manifest: PackManifest, packDir: string, built: boolean): UserModel => ({
    name: manifest.name, packDir, manifest, built, generation: manifest.files.some((f) => f.path === 'generation_config.json'),
  });
  if (asPack) return describe(asPack, path, false);
  const name = basename(path).replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9._-]/g, '-');
  const out = join(stateDir, 'packs', name);
  const stampPath = `${out}.source.json`;
  const stamp = JSON.stringify({ path, stamp: stampOf(path) });
  const previous = readPackManifest(out);
  if (previous && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp) return describe(previous, out, false);
  const { manifest } = await packModel(path, { out, name });
  writeFileSync(stampPath, stamp);
  return describe(manifest, out, true);
}

interface OipTensor { name: string; datatype: string; shape: number[] }

/**
 * How to call a served model, as shell lines: a chat curl for a model its
 * session serves as text generation (what GET /v1/models says, not a guess
 * from the files), an OIP v2 infer curl with zero inputs of the right shapes
 * (dynamic dimensions as 1) for the others.
 *
 * @example
 * (await callExample('http://localhost:8787', key, model)).join('\n');
 */
export async function callExample(app: string, apiKey: string, model: UserModel): Promise<string[]> {
  const auth = `-H "Authorization: Bearer ${apiKey}" -H "Content-Type: application/json"`;
  const listed = (await (await fetch(`${app}/v1/models`, { headers: { Authorization: `Bearer ${apiKey}` } })).json()) as { data?: { id: string; task?: string }[] };
  if (listed.data?.find((m) => m.id === model.name)?.task === 'text-generation') {
    const body = JSON.stringify({ model: model.name, messages: [{ role: 'user', content: 'Hello!' }], max_tokens: 32, stream: true });
    return [`  curl -sN ${app}/v1/chat/completions ${auth} \\`, `    -d '${body}'`];
  }
  const res = await fetch(`${app}/v2/models/${encodeURIComponent(model.name)}`, { headers: { Authorization: `Bearer ${apiKey}` } });
  const meta = (await res.json()) as { inputs?: OipTensor[] };
  let values = 0;
  const inputs = (meta.inputs ?? []).map((t) => {
    const shape = t.shape.map((d) => (d < 0 ? 1 : d));
    const n = shape.reduce((a, d) => a * d, 1);
    values = Math.max(values, n);
    return { name: t.name, shape, datatype: t.datatype, data: new Array(Math.min(n, 64)).fill(t.datatype === 'BOOL' ? false : 0) };
  });
  return [
    `  curl -s ${app}/v2/models/${model.name}/infer ${auth} \\`,
    `    -d '${JSON.stringify({ inputs })}'`,
    ...(values > 64 ? [`  (each input's "data" needs the product of its shape in values, ${values} for the largest; the example shows 64)`] : []),
  ];
}
