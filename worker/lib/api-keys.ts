/**
 * API keys and their scopes, read from `TESSERA_API_KEYS` (comma-separated)
 * and `TESSERA_API_KEY`. Each entry is a key, optionally followed by the
 * scopes it grants, separated by spaces:
 *
 *   TESSERA_API_KEYS="tsk_app, tsk_ops dashboard, tsk_both inference dashboard"
 *
 * - `inference`: the inference APIs and `/metrics` (what every key meant
 *   before scopes existed, and still what a bare key means);
 * - `dashboard`: `/dashboard`'s live feed, and nothing else.
 *
 * Backward compatible: an entry without scope words is an inference key, as
 * before. A bearer token has no spaces (RFC 6750's b64token), so a space can
 * only separate a key from its scopes. An entry naming a scope this Worker
 * does not know is ignored (fail closed) and logged by its position, never
 * by its key.
 */

export const API_KEY_SCOPES = ['inference', 'dashboard'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface ScopedApiKey {
  key: string;
  scopes: ReadonlySet<ApiKeyScope>;
}

export interface ParsedApiKeys {
  keys: ScopedApiKey[];
  /** Why entries were ignored (no key material in them). */
  problems: string[];
}

const isScope = (word: string): word is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(word);

/**
 * @example
 * parseApiKeys(['k1, k2 dashboard']).keys.map((k) => [k.key, [...k.scopes]]);
 * // [['k1', ['inference']], ['k2', ['dashboard']]]
 */
export function parseApiKeys(sources: readonly (string | undefined)[]): ParsedApiKeys {
  const keys: ScopedApiKey[] = [];
  const problems: string[] = [];
  let position = 0;
  for (const source of sources) {
    for (const entry of (source ?? '').split(',')) {
      const words = entry.trim().split(/\s+/).filter((w) => w !== '');
      if (words.length === 0) continue;
      position += 1;
      const [key, ...scopeWords] = words as [string, ...string[]];
      const unknown = scopeWords.filter((w) => !isScope(w));
      if (unknown.length > 0) {
        problems.push(`API key entry ${position} is ignored: unknown scope ${unknown.map((w) => JSON.stringify(w)).join(', ')} (known: ${API_KEY_SCOPES.join(', ')})`);
        continue;
      }
      keys.push({ key, scopes: new Set(scopeWords.length > 0 ? (scopeWords as ApiKeyScope[]) : ['inference']) });
    }
  }
  return { keys, problems };
}
