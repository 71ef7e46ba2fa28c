/**
 * Validates a manifest posted for publishing. The Worker trusts nothing it is
 * sent: every field is checked, paths go through the pack's own
 * `validatePackPath`, and the revision id must be the one `revisionOf` derives
 * from the content, so a revision id always names exactly one set of bytes and
 * immutable caching of `/models/<name>/<rev>/...` is sound.
 */
import { MANIFEST_FORMAT, MANIFEST_VERSION, MAX_FILE_SIZE, type PackManifest } from '../../src/pack/manifest.ts';
import { revisionOf, validatePackPath } from '../../src/pack/build-manifest.ts';
import { isTesseraError } from '../../src/errors.ts';
import { HttpError } from '../http-error.ts';
import { MODEL_NAME_RE, REVISION_RE, SHA256_RE } from './keys.ts';

const ROLES = new Set(['graph', 'external-data', 'config', 'tokenizer', 'other']);

/**
 * @example
 * const manifest = await checkManifest(await c.req.json(), 'ppocr-v4-det');
 */
export async function checkManifest(value: unknown, expectedName: string): Promise<PackManifest> {
  const m = record(value, 'manifest');
  if (m.format !== MANIFEST_FORMAT) fail(`format must be "${MANIFEST_FORMAT}"`);
  if (m.version !== MANIFEST_VERSION) fail(`version must be ${MANIFEST_VERSION}`);
  if (typeof m.name !== 'string' || !MODEL_NAME_RE.test(m.name)) fail('name must be a valid model name');
  if (m.name !== expectedName) fail(`manifest name "${String(m.name)}" does not match the URL's model "${expectedName}"`);
  if (typeof m.revision !== 'string' || !REVISION_RE.test(m.revision)) fail('revision must be lower-case hex');
  if (!Number.isSafeInteger(m.chunkSize) || (m.chunkSize as number) < 4096) fail('chunkSize must be an integer >= 4096');
  if (m.kind !== 'onnx' && m.kind !== 'hf') fail('kind must be "onnx" or "hf"');
  if (!Array.isArray(m.files) || m.files.length === 0) fail('files must be a non-empty array');
  if (!Array.isArray(m.graphs)) fail('graphs must be an array');
  const chunkSize = m.chunkSize as number;

  const paths = new Set<string>();
  let total = 0;
  for (const [i, f] of (m.files as unknown[]).entries()) {
    const file = record(f, `files[${i}]`);
    const where = `files[${i}]`;
    if (typeof file.path !== 'string') fail(`${where}.path must be a string`);
    checkPath(file.path as string);
    if (paths.has(file.path as string)) fail(`${where}.path "${String(file.path)}" appears twice`);
    paths.add(file.path as string);
    if (!Number.isSafeInteger(file.size) || (file.size as number) < 0 || (file.size as number) > MAX_FILE_SIZE) fail(`${where}.size must be an integer in [0, ${MAX_FILE_SIZE}]`);
    if (typeof file.sha256 !== 'string' || !SHA256_RE.test(file.sha256)) fail(`${where}.sha256 must be 64 lower-case hex digits`);
    if (typeof file.role !== 'string' || !ROLES.has(file.role)) fail(`${where}.role must be one of ${[...ROLES].join(', ')}`);
    const chunks = file.chunks;
    const expected = Math.ceil((file.size as number) / chunkSize);
    if (!Array.isArray(chunks) || chunks.length !== expected) fail(`${where}.chunks must list ${expected} chunk hashes for ${String(file.size)} bytes`);
    if (!(chunks as unknown[]).every((h) => typeof h === 'string' && SHA256_RE.test(h))) fail(`${where}.chunks must be 64-digit lower-case hex hashes`);
    total += file.size as number;
  }
  if (m.totalBytes !== total) fail(`totalBytes must be the sum of file sizes (${total})`);
  for (const [i, g] of (m.graphs as unknown[]).entries()) {
    const graph = record(g, `graphs[${i}]`);
    if (typeof graph.path !== 'string' || !paths.has(graph.path)) fail(`graphs[${i}].path must name a file in the manifest`);
    if (!Array.isArray(graph.externalData) || !graph.externalData.every((p) => typeof p === 'string' && paths.has(p))) {
      fail(`graphs[${i}].externalData must list files in the manifest`);
    }
  }
  const manifest = value as PackManifest;
  const derived = await revisionOf(manifest.chunkSize, manifest.graphs, manifest.files);
  if (derived !== manifest.revision) {
    fail(`revision "${manifest.revision}" does not match its content (expected "${derived}"); rebuild the pack instead of editing its manifest`);
  }
  return manifest;
}

function checkPath(path: string): void {
  try {
    validatePackPath(path);
  } catch (error) {
    if (isTesseraError(error)) fail(error.message);
    throw error;
  }
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function fail(message: string): never {
  throw new HttpError(400, 'invalid-manifest', `invalid manifest: ${message}`);
}
