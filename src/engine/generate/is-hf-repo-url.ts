/**
 * Whether a source string names a Hugging Face-style repository
 * (`<host>/<org>/<model>/resolve/<rev>/`) rather than a pack's manifest.json.
 *
 * @example
 * isHfRepoUrl('http://127.0.0.1:8080/org/llm/resolve/main/'); // true
 * isHfRepoUrl('https://models.example/llm/manifest.json');    // false
 */
export function isHfRepoUrl(source: string): boolean {
  return source.includes('/resolve/') && !/\.json(\?|$)/.test(source);
}
