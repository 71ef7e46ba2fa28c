/**
 * Where the page keeps the dashboard token: sessionStorage, so it lives as
 * long as the tab and never reaches another tab, a cookie jar or a URL. It
 * is sent only as an `Authorization` header by the feed client, which means
 * no request carries it unless this page's code sends it (no CSRF surface).
 */
const KEY = 'tessera.dashboard.token';

/** @example const token = readToken(sessionStorage); */
export function readToken(storage: Storage = sessionStorage): string | undefined {
  const token = storage.getItem(KEY);
  return token === null || token === '' ? undefined : token;
}

/** @example saveToken('tsk_...'); */
export function saveToken(token: string, storage: Storage = sessionStorage): void {
  storage.setItem(KEY, token);
}

/** @example forgetToken(); */
export function forgetToken(storage: Storage = sessionStorage): void {
  storage.removeItem(KEY);
}
