/**
 * Publishing (all behind `Authorization: Bearer <TESSERA_ADMIN_TOKEN>`):
 *   POST /admin/blobs/missing                  { "sha256": [...] } -> { "missing": [...] }
 *   PUT  /admin/models/:name/blobs/:sha256     body = the file's bytes (Content-Length required)
 *   POST /admin/models/:name/revisions         body = the manifest; 409 lists blobs still missing
 *
 * A client uploads what `missing` names, then commits. The commit writes the
 * revision's manifest and switches `current` last, so readers see the old
 * revision or the new one, never half of one.
 */
import { Hono, type Context } from 'hono';
import type { AppEnv } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { adminAuth } from '../middleware/admin-auth.ts';
import { blobKey, checkModelName, checkSha256 } from '../lib/keys.ts';
import { validateManifest, verifyRevision } from '../../src/pack/validate-manifest.ts';
import { ManifestStore } from '../lib/manifest-store.ts';
import { storeBlob } from '../lib/store-blob.ts';
import type { PackManifest } from '../../src/pack/manifest.ts';
import { MAX_FILE_SIZE } from '../../src/pack/manifest.ts';

/** Hashes one `missing` query may ask about (each is one R2 head). */
export const MAX_MISSING_QUERY = 1000;
/** Largest JSON body (a manifest for 2 GiB files at 8 MiB chunks is ~20 KiB per file). */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** Default blob PUT limit when TESSERA_MAX_UPLOAD_BYTES is unset. */
export const DEFAULT_MAX_UPLOAD_BYTES = MAX_FILE_SIZE;

/**
 * @example
 * app.route('/', adminRoutes({ manifestCache }));
 */
export function adminRoutes(options: { manifestCache?: Map<string, PackManifest> } = {}): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.use('/admin/*', adminAuth());

  routes.post('/admin/blobs/missing', async (c) => {
    const body = await readJson(c);
    const list = (body as { sha256?: unknown } | null)?.sha256;
    if (!Array.isArray(list) || list.length > MAX_MISSING_QUERY) {
      throw new HttpError(400, 'bad-request', `send { "sha256": [...] } with at most ${MAX_MISSING_QUERY} hashes`);
    }
    const hashes = [...new Set(list.map((h) => checkSha256(typeof h === 'string' ? h : undefined)))];
    const sizes = await headBlobs(c.env.PACKS, hashes);
    return c.json({ missing: hashes.filter((h) => !sizes.has(h)) });
  });

  routes.put('/admin/models/:name/blobs/:sha256', async (c) => {
    checkModelName(c.req.param('name'));
    const sha256 = checkSha256(c.req.param('sha256'));
    const size = contentLength(c);
    const configured = Number(c.env.TESSERA_MAX_UPLOAD_BYTES);
    // A missing or garbled var must not mean "no limit".
    const limit = Number.isSafeInteger(configured) && configured > 0 ? configured : DEFAULT_MAX_UPLOAD_BYTES;
    if (size > limit) {
      throw new HttpError(413, 'payload-too-large', `this Worker accepts blobs up to ${limit} bytes per PUT (TESSERA_MAX_UPLOAD_BYTES); got ${size}`);
    }
    const existing = await c.env.PACKS.head(blobKey(sha256));
    // Content-addressed: bytes already stored under this hash are these bytes.
    if (existing !== null) return c.json({ sha256, size: existing.size, stored: false }, 200);
    await storeBlob(c.env.PACKS, sha256, c.req.raw.body, size);
    return c.json({ sha256, size, stored: true }, 201);
  });

  routes.post('/admin/models/:name/revisions', async (c) => {
    const name = checkModelName(c.req.param('name'));
    const manifest = validateManifest(await readJson(c), { name });
    await verifyRevision(manifest);
    const wanted = new Map(manifest.files.map((f) => [f.sha256, f.size]));
    const sizes = await headBlobs(c.env.PACKS, [...wanted.keys()]);
    const missing = [...wanted.keys()].filter((h) => !sizes.has(h));
    if (missing.length > 0) {
      throw new HttpError(409, 'not-found', `${missing.length} blob(s) named by the manifest are not uploaded yet; upload them, then commit again`, {
        details: { missing },
      });
    }
    const wrongSize = manifest.files.filter((f) => sizes.get(f.sha256) !== f.size).map((f) => f.path);
    if (wrongSize.length > 0) {
      throw new HttpError(400, 'invalid-manifest', `the manifest's sizes disagree with the stored blobs for: ${wrongSize.join(', ')}`, {
        details: { files: wrongSize },
      });
    }
    await new ManifestStore(c.env.PACKS, options.manifestCache).publish(manifest);
    return c.json({ name, revision: manifest.revision, files: manifest.files.length, totalBytes: manifest.totalBytes }, 201);
  });

  return routes;
}

/** Sizes of the blobs that exist, by hash; heads run 32 at a time. */
async function headBlobs(bucket: R2Bucket, hashes: string[]): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (let i = 0; i < hashes.length; i += 32) {
    const batch = hashes.slice(i, i + 32);
    const heads = await Promise.all(batch.map((h) => bucket.head(blobKey(h))));
    heads.forEach((head, j) => {
      if (head !== null) sizes.set(batch[j]!, head.size);
    });
  }
  return sizes;
}

function contentLength(c: Context<AppEnv>): number {
  const raw = c.req.header('Content-Length');
  const size = raw === undefined ? NaN : Number(raw);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new HttpError(411, 'bad-request', 'send the blob with a Content-Length header (chunked uploads are not accepted)');
  }
  return size;
}

async function readJson(c: Context<AppEnv>): Promise<unknown> {
  const declared = Number(c.req.header('Content-Length') ?? 0);
  if (declared > MAX_JSON_BYTES) throw new HttpError(413, 'payload-too-large', `JSON bodies are limited to ${MAX_JSON_BYTES} bytes`);
  const text = await c.req.text();
  if (text.length > MAX_JSON_BYTES) throw new HttpError(413, 'payload-too-large', `JSON bodies are limited to ${MAX_JSON_BYTES} bytes`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'bad-request', 'the body is not valid JSON');
  }
}
