/**
 * Where a Hugging Face model's files come from, resolved from what the caller
 * gave: a Tessera pack of an HF folder (its manifest URL), or an HF-style
 * repository (`<host>/<org>/<model>/resolve/<rev>/`) with no manifest.
 */
import { TesseraError } from '../../errors.ts';
import type { HfSource } from '../../protocol/hf-worker-messages.ts';

export type { HfSource };

export type ResolvedHfSource = { type: 'pack'; url: string } | { type: 'hf-repo'; url: string };

/**
 * A string is a pack when it ends in `.json`, a repository when it holds
 * `/resolve/`, and a hub host otherwise.
 *
 * @example
 * resolveHfSource('http://127.0.0.1:8080', 'org/bert'); // { type: 'hf-repo', url: 'http://127.0.0.1:8080/org/bert/resolve/main/' }
 * resolveHfSource('https://models.example/bert/manifest.json', 'bert'); // { type: 'pack', ... }
 */
export function resolveHfSource(source: string | HfSource, modelId: string): ResolvedHfSource {
  const given: HfSource =
    typeof source !== 'string'
      ? source
      : /\.json(\?|$)/.test(source)
        ? { type: 'pack', url: source }
        : source.includes('/resolve/')
          ? { type: 'hf-repo', url: source }
          : { type: 'hf-hub', host: source };
  const absolute = (url: string) => {
    try {
      return new URL(url, (globalThis as { location?: { href?: string } }).location?.href).href;
    } catch (err) {
      throw new TesseraError('invalid-argument', `source "${url}" is not a URL; give a pack's manifest.json URL or a repository URL ending in /resolve/<revision>/`, { cause: err });
    }
  };
  switch (given.type) {
    case 'pack':
      return { type: 'pack', url: absolute(given.url) };
    case 'hf-repo': {
      const url = absolute(given.url);
      return { type: 'hf-repo', url: url.endsWith('/') ? url : `${url}/` };
    }
    case 'hf-hub': {
      if (!/^[\w.-]+(\/[\w.-]+)?$/.test(modelId) || modelId.includes('..')) {
        throw new TesseraError('invalid-argument', `model id "${modelId}" is not of the form org/name; give source as a repository URL instead`);
      }
      const host = absolute(given.host).replace(/\/+$/, '');
      return { type: 'hf-repo', url: `${host}/${modelId}/resolve/${encodeURIComponent(given.revision ?? 'main')}/` };
    }
    default: {
      const unknown: never = given;
      throw new TesseraError('invalid-argument', `unknown source type ${JSON.stringify((unknown as { type: unknown }).type)}; use pack, hf-repo or hf-hub`);
    }
  }
}
