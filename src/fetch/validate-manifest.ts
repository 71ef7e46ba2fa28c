/**
 * Checks that parsed JSON is a usable PackManifest before the loader trusts a
 * single number in it, with messages that say which field is wrong.
 */
import { TesseraError } from '../errors.ts';
import { validatePackPath } from '../pack/build-manifest.ts';
import { MANIFEST_FORMAT, MANIFEST_VERSION, MAX_FILE_SIZE, type PackManifest } from '../pack/manifest.ts';

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * @example
 * const manifest = validateManifest(await response.json(), url);
 */
export function validateManifest(value: unknown, source = 'manifest'): PackManifest {
  const fail = (what: string): never => {
    throw new TesseraError('invalid-manifest', `${source}: ${what}`, { details: { source } });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('is not a JSON object');
  const m = value as Record<string, unknown>;
  if (m.format !== MANIFEST_FORMAT) fail(`"format" must be "${MANIFEST_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.version !== MANIFEST_VERSION) fail(`"version" ${JSON.stringify(m.version)} is not supported (this Tessera reads version ${MANIFEST_VERSION})`);
  if (typeof m.name !== 'string' || m.name.length === 0) fail('"name" must be a non-empty string');
  if (typeof m.revision !== 'string' || m.revision.length === 0) fail('"revision" must be a non-empty string');
  const chunkSize = m.chunkSize;
  if (typeof chunkSize !== 'number' || !Number.isInteger(chunkSize) || chunkSize <= 0) fail('"chunkSize" must be a positive integer');
  if (m.kind !== 'onnx' && m.kind !== 'hf') fail(`"kind" must be "onnx" or "hf", got ${JSON.stringify(m.kind)}`);
  if (!Array.isArray(m.files)) fail('"files" must be an array');
  if (!Array.isArray(m.graphs)) fail('"graphs" must be an array');
  const paths = new Set<string>();
  let total = 0;
  (m.files as unknown[]).forEach((f, i) => {
    const file = f as Record<string, unknown>;
    const at = `files[${i}]`;
    if (typeof file !== 'object' || file === null) fail(`${at} is not an object`);
    if (typeof file.path !== 'string') fail(`${at}.path must be a string`);
    const path = file.path as string;
    validatePackPath(path);
    if (paths.has(path)) fail(`${at}.path "${path}" appears twice`);
    paths.add(path);
    const size = file.size;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > MAX_FILE_SIZE) fail(`${at}.size must be an integer in [0, ${MAX_FILE_SIZE}]`);
    if (typeof file.sha256 !== 'string' || !HEX64.test(file.sha256)) fail(`${at}.sha256 must be 64 lower-case hex digits`);
    if (!Array.isArray(file.chunks)) fail(`${at}.chunks must be an array`);
    const chunks = file.chunks as unknown[];
    const expected = Math.ceil((size as number) / (chunkSize as number));
    if (chunks.length !== expected) fail(`${at} ("${path}") has ${chunks.length} chunks; ${size} bytes in chunks of ${chunkSize} need ${expected}`);
    chunks.forEach((c, j) => {
      if (typeof c !== 'string' || !HEX64.test(c)) fail(`${at}.chunks[${j}] must be 64 lower-case hex digits`);
    });
    total += size as number;
  });
  (m.graphs as unknown[]).forEach((g, i) => {
    const graph = g as Record<string, unknown>;
    if (typeof graph !== 'object' || graph === null || typeof graph.path !== 'string' || !paths.has(graph.path)) fail(`graphs[${i}].path must name a file in "files"`);
    if (!Array.isArray(graph.externalData) || graph.externalData.some((p) => typeof p !== 'string' || !paths.has(p))) {
      fail(`graphs[${i}].externalData must list files in "files"`);
    }
  });
  if (m.totalBytes !== total) fail(`"totalBytes" is ${JSON.stringify(m.totalBytes)} but the files add up to ${total}`);
  return value as PackManifest;
}
