/**
 * The R2 key layout, in one place. File bytes are content-addressed and shared
 * by every model and revision; revisions are immutable manifests; `current` is
 * the one mutable key, written last when publishing.
 *
 *   blobs/<sha256>                         a pack file's bytes
 *   models/<name>/revisions/<rev>.json     that revision's manifest
 *   models/<name>/current                  the current revision id (text)
 */
import { SHA256_RE } from '../../src/pack/validate-manifest.ts';
import { HttpError } from '../http-error.ts';

/** Model names: a letter or digit, then letters, digits, `.`, `_`, `-` (no `/`, no `..`). */
export const MODEL_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.)){0,99}$/;
/** Revision ids are lower-case hex (16 digits from `revisionOf`; 8-64 accepted). */
export const REVISION_RE = /^[0-9a-f]{8,64}$/;

export const blobKey = (sha256: string): string => `blobs/${sha256}`;
export const revisionKey = (name: string, revision: string): string => `models/${name}/revisions/${revision}.json`;
export const currentKey = (name: string): string => `models/${name}/current`;

/**
 * @example
 * const name = checkModelName(c.req.param('name')); // throws 400 on `..`
 */
export function checkModelName(name: string | undefined): string {
  if (name === undefined || !MODEL_NAME_RE.test(name)) {
    throw new HttpError(400, 'invalid-argument', 'model name must be 1-100 characters of A-Z, a-z, 0-9, ".", "_", "-", starting with a letter or digit');
  }
  return name;
}

/** @example checkRevision('0123456789abcdef') */
export function checkRevision(revision: string | undefined): string {
  if (revision === undefined || !REVISION_RE.test(revision)) {
    throw new HttpError(400, 'invalid-argument', 'revision must be 8-64 lower-case hex digits');
  }
  return revision;
}

/** @example checkSha256(c.req.param('sha256')) */
export function checkSha256(sha256: string | undefined): string {
  if (sha256 === undefined || !SHA256_RE.test(sha256)) {
    throw new HttpError(400, 'invalid-argument', 'a blob is named by its SHA-256: 64 lower-case hex digits');
  }
  return sha256;
}
