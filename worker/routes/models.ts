/**
 * Read-only pack serving:
 *   GET /models/:name/manifest.json          current revision's manifest (no-cache, revalidate by ETag)
 *   GET /models/:name/:revision/manifest.json that revision's manifest (immutable)
 *   GET /models/:name/:revision/<file path>   a file: single Range, If-Range, If-None-Match
 *
 * Path safety is structural: the file path is only ever used as a lookup key in
 * the revision's manifest, and the bytes come from `blobs/<sha256>` named by
 * that manifest entry, so no input can build an R2 key outside it.
 */
import { Hono, type Context } from 'hono';
import type { PackFile, PackManifest } from '../../src/pack/manifest.ts';
import type { AppEnv } from '../env.ts';
import { HttpError } from '../http-error.ts';
import { blobKey, checkModelName, checkRevision } from '../lib/keys.ts';
import { ManifestStore } from '../lib/manifest-store.ts';
import { parseRange } from '../../src/protocol/parse-range.ts';
import { ifRangeAllows, noneMatchHits } from '../lib/etag-match.ts';
import { contentTypeOf } from '../lib/content-type.ts';

const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * @example
 * app.route('/', modelRoutes({ manifestCache: new Map() }));
 */
export function modelRoutes(options: { manifestCache?: Map<string, PackManifest> } = {}): Hono<AppEnv> {
  const cache = options.manifestCache ?? new Map<string, PackManifest>();
  const routes = new Hono<AppEnv>();

  routes.get('/models/:name/manifest.json', async (c) => {
    const name = checkModelName(c.req.param('name'));
    const store = new ManifestStore(c.env.PACKS, cache);
    const revision = await store.current(name);
    if (revision === null) throw new HttpError(404, 'not-found', `model "${name}" has no published revision`);
    const manifest = await store.revision(name, revision);
    if (manifest === null) throw new HttpError(500, 'internal', `model "${name}" points at revision ${revision}, which is missing`);
    // The current manifest changes on publish: clients revalidate every time
    // (no-cache), and the revision id makes a cheap strong validator.
    // Content-Location names the revision's own manifest, which is where the
    // files are: loaders resolve file paths against it (src/fetch/fetch-manifest.ts).
    const response = manifestResponse(c, manifest, 'no-cache');
    response.headers.set('Content-Location', `/models/${encodeURIComponent(name)}/${revision}/manifest.json`);
    return response;
  });

  routes.get('/models/:name/:revision/*', async (c) => {
    // Read the raw path ourselves rather than trusting router decoding: the
    // segments after the revision, percent-decoded once, are the pack path.
    const segments = new URL(c.req.url).pathname.split('/');
    const name = checkModelName(segments[2]);
    const revision = checkRevision(segments[3]);
    const path = decodePackPath(segments.slice(4).join('/'));
    const manifest = await new ManifestStore(c.env.PACKS, cache).revision(name, revision);
    if (manifest === null) throw new HttpError(404, 'not-found', `model "${name}" has no revision ${revision}`);
    const file = manifest.files.find((f) => f.path === path);
    if (file === undefined) {
      if (path === 'manifest.json') return manifestResponse(c, manifest, IMMUTABLE);
      throw new HttpError(404, 'not-found', `revision ${revision} of "${name}" has no file "${path}"`);
    }
    return fileResponse(c, file);
  });

  return routes;
}

/** Percent-decodes the file part of the URL once; malformed escapes are a 400. */
function decodePackPath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'invalid-argument', 'the file path has a malformed percent-escape');
  }
}

function manifestResponse(c: Context<AppEnv>, manifest: PackManifest, cacheControl: string): Response {
  const etag = `"rev-${manifest.revision}"`;
  const headers = { ETag: etag, 'Cache-Control': cacheControl, 'Content-Type': 'application/json; charset=utf-8' };
  if (noneMatchHits(c.req.header('If-None-Match'), etag)) return new Response(null, { status: 304, headers });
  return new Response(JSON.stringify(manifest), { status: 200, headers });
}

async function fileResponse(c: Context<AppEnv>, file: PackFile): Promise<Response> {
  // The ETag comes from the manifest, so 304 and If-Range are decided before
  // touching R2 (R2's own etag is an MD5 and not what clients hold).
  const etag = `"${file.sha256}"`;
  const headers = new Headers({
    ETag: etag,
    'Accept-Ranges': 'bytes',
    // no-transform + identity: the bytes go out as stored. Cloudflare's edge
    // (and miniflare, which copies it) otherwise gzips "compressible" types
    // on the fly, application/wasm and JSON among them: the 28 MB ORT wasm
    // then came chunked with no Content-Length, the strong ETag and any
    // Content-Range no longer described the bytes sent, and the work was
    // redone on every request.
    'Cache-Control': `${IMMUTABLE}, no-transform`,
    'Content-Encoding': 'identity',
    'Content-Type': contentTypeOf(file.path),
  });
  if (noneMatchHits(c.req.header('If-None-Match'), etag)) return new Response(null, { status: 304, headers });

  const size = file.size;
  const decision = ifRangeAllows(c.req.header('If-Range'), etag) ? parseRange(c.req.header('Range'), size) : ({ type: 'ignore', code: 'no-range' } as const);
  const head = c.req.method === 'HEAD';
  switch (decision.type) {
    case 'ignore': {
      headers.set('Content-Length', String(size));
      if (head) return new Response(null, { status: 200, headers });
      const object = await getBlob(c, file);
      return new Response(object.body, { status: 200, headers });
    }
    case 'multiple':
      throw new HttpError(416, 'range-not-supported', 'only a single byte range per request is supported', {
        headers: { 'Content-Range': `bytes */${size}`, 'Accept-Ranges': 'bytes' },
      });
    case 'unsatisfiable':
      throw new HttpError(416, 'range-not-satisfiable', `the range is outside the file's ${size} bytes`, {
        headers: { 'Content-Range': `bytes */${size}`, 'Accept-Ranges': 'bytes' },
      });
    case 'range': {
      const length = decision.end - decision.start + 1;
      headers.set('Content-Range', `bytes ${decision.start}-${decision.end}/${size}`);
      headers.set('Content-Length', String(length));
      if (head) return new Response(null, { status: 206, headers });
      const object = await getBlob(c, file, { offset: decision.start, length });
      return new Response(object.body, { status: 206, headers });
    }
    default: {
      const never: never = decision;
      throw new HttpError(500, 'internal', `unhandled range decision ${JSON.stringify(never)}`);
    }
  }
}

async function getBlob(c: Context<AppEnv>, file: PackFile, range?: { offset: number; length: number }): Promise<R2ObjectBody> {
  const object = await c.env.PACKS.get(blobKey(file.sha256), range === undefined ? {} : { range });
  if (object === null) {
    throw new HttpError(500, 'internal', `the bytes of "${file.path}" (${file.sha256}) are missing from storage`);
  }
  return object;
}
