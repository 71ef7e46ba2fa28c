/**
 * What a copied (non-graph) file in a Hugging Face-style folder is for, from
 * its name. Graphs and their external data get their roles from the packer.
 */
import type { FileRole } from './manifest.ts';

/**
 * @example
 * fileRoleOf('tokenizer_config.json'); // 'tokenizer'
 * fileRoleOf('config.json'); // 'config'
 */
export function fileRoleOf(path: string): FileRole {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  // tokenizer_config.json is the tokenizer's, not the model's, configuration.
  if (name.startsWith('tokenizer') || name === 'special_tokens_map.json' || name === 'added_tokens.json' || name.startsWith('vocab') || name === 'merges.txt' || name.endsWith('.spm') || name === 'sentencepiece.bpe.model') {
    return 'tokenizer';
  }
  if (name.endsWith('.json') && name.includes('config')) return 'config';
  return 'other';
}
