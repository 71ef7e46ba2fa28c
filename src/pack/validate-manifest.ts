/**
 * The one manifest check: the loader runs it before it trusts a single number
 * in a manifest, `tessera publish` before it reads a file the manifest names,
 * and the Worker before it stores one it is sent. One set of rules, with
 * messages that say which field is wrong. `verifyRevision` adds the rule that
 * makes immutable caching of `/models/<name>/<rev>/...` sound: a revision id
 * names exactly one content (publish and the Worker check it; the loader
 * does not need to, since every chunk is checked by its hash).
 */
import { TesseraError } from '../errors.ts';
import { revisionOf, validatePackPath } from './build-manifest.ts';
import { MANIFEST_FORMAT, MANIFEST_VERSION, MAX_FILE_SIZE, type FileRole, type PackManifest } from './manifest.ts';

/** A file's or a chunk's SHA-256, as manifests and blob keys write it. */
export const SHA256_RE = /^[0-9a-f]{64}$/;
/** The smallest chunk a pack may use (`tessera pack` refuses smaller ones too): below it, per-request overhead dominates. */
export const MIN_CHUNK_SIZE = 4096;

const ROLES: ReadonlySet<string> = new Set<FileRole>(['graph', 'external-data', 'config', 'tokenizer', 'other']);

export interface ValidateManifestOptions {
  /** Names the manifest in messages (a URL, a path). Default `manifest`. */
  source?: string;
  /** The model name it must carry (the Worker: the URL's). */
  name?: string;
}

/**
 * @example
 * const manifest = validateManifest(await response.json(), { source: url });
 */
export function validateManifest(value: unknown, options: ValidateManifestOptions = {}): PackManifest {
  const source = options.source ?? 'manifest';
  const fail = (what: string): never => {
    throw new TesseraError('invalid-manifest', `${source}: ${what}`, { details: { source } });
  };
  const record = (v: unknown, what: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what} is not a JSON object`);
    return v as Record<string, unknown>;
  };
  const m = record(value, 'the manifest');
  if (m.format !== MANIFEST_FORMAT) fail(`"format" must be "${MANIFEST_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.version !== MANIFEST_VERSION) fail(`"version" ${JSON.stringify(m.version)} is not supported (this Tessera reads version ${MANIFEST_VERSION})`);
  // Any non-empty name and revision: the loader also keeps manifests it made
  // itself (a Hugging Face repository's files, a pack's file subset) under
  // names and revisions no server would publish. What a published one must
  // carry is checked where it is published: its name against the URL's
  // (`options.name`, which the Worker checks against its MODEL_NAME_RE) and its revision
  // against its content (`verifyRevision`, always 16 hex digits).
  if (typeof m.name !== 'string' || m.name.length === 0) fail('"name" must be a non-empty string');
  if (options.name !== undefined && m.name !== options.name) fail(`"name" is "${String(m.name)}" but this is model "${options.name}"`);
  if (typeof m.revision !== 'string' || m.revision.length === 0) fail('"revision" must be a non-empty string');
  const chunkSize = m.chunkSize;
  if (!Number.isSafeInteger(chunkSize) || (chunkSize as number) < MIN_CHUNK_SIZE) fail(`"chunkSize" must be an integer >= ${MIN_CHUNK_SIZE}, got ${JSON.stringify(chunkSize)}`);
  if (m.kind !== 'onnx' && m.kind !== 'hf') fail(`"kind" must be "onnx" or "hf", got ${JSON.stringify(m.kind)}`);
  if (!Array.isArray(m.files) || m.files.length === 0) fail('"files" must be a non-empty array');
  if (!Array.isArray(m.graphs)) fail('"graphs" must be an array');
  const paths = new Set<string>();
  let total = 0;
  (m.files as unknown[]).forEach((f, i) => {
    const at = `files[${i}]`;
    const file = record(f, at);
    if (typeof file.path !== 'string') fail(`${at}.path must be a string`);
    const path = file.path as string;
    try {
      validatePackPath(path);
    } catch (error) {
      fail(`${at}.path: ${(error as Error).message}`);
    }
    if (paths.has(path)) fail(`${at}.path "${path}" appears twice`);
    paths.add(path);
    const size = file.size;
    if (!Number.isSafeInteger(size) || (size as number) < 0 || (size as number) > MAX_FILE_SIZE) fail(`${at}.size must be an integer in [0, ${MAX_FILE_SIZE}]`);
    if (typeof file.sha256 !== 'string' || !SHA256_RE.test(file.sha256)) fail(`${at}.sha256 must be 64 lower-case hex digits`);
    if (typeof file.role !== 'string' || !ROLES.has(file.role)) fail(`${at}.role must be one of ${[...ROLES].join(', ')}, got ${JSON.stringify(file.role)}`);
    if (!Array.isArray(file.chunks)) fail(`${at}.chunks must be an array`);
    const chunks = file.chunks as unknown[];
    const expected = Math.ceil((size as number) / (chunkSize as number));
    if (chunks.length !== expected) fail(`${at} ("${path}") has ${chunks.length} chunks; ${String(size)} bytes in chunks of ${String(chunkSize)} need ${expected}`);
    chunks.forEach((c, j) => {
      if (typeof c !== 'string' || !SHA256_RE.test(c)) fail(`${at}.chunks[${j}] must be 64 lower-case hex digits`);
    });
    total += size as number;
  });
  (m.graphs as unknown[]).forEach((g, i) => {
    const graph = record(g, `graphs[${i}]`);
    if (typeof graph.path !== 'string' || !paths.has(graph.path)) fail(`graphs[${i}].path must name a file in "files"`);
    if (!Array.isArray(graph.externalData) || graph.externalData.some((p) => typeof p !== 'string' || !paths.has(p))) {
      fail(`graphs[${i}].externalData must list files in "files"`);
    }
  });
  if (m.totalBytes !== total) fail(`"totalBytes" is ${JSON.stringify(m.totalBytes)} but the files add up to ${total}`);
  return value as PackManifest;
}

/**
 * Throws `invalid-manifest` unless the revision is the one `revisionOf`
 * derives from the content (an edited manifest keeps its old id).
 *
 * @example
 * await verifyRevision(validateManifest(json, { source: path }), path);
 */
export async function verifyRevision(manifest: PackManifest, source = 'manifest'): Promise<void> {
  const derived = await revisionOf(manifest.chunkSize, manifest.graphs, manifest.files);
  if (derived !== manifest.revision) {
    throw new TesseraError('invalid-manifest', `${source}: revision "${manifest.revision}" does not match its content (expected "${derived}"); rebuild the pack instead of editing its manifest`, {
      details: { source, expected: derived },
    });
  }
}
