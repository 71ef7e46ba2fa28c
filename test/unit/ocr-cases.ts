/**
 * The rendered-text cases the OCR accuracy tests read back, shared by the
 * Node and browser tests: several fonts and sizes, bold and italic, lines
 * tilted both ways, one upside down (exercises the direction classifier),
 * and multi-line paragraphs.
 */
import type { RenderTextOptions } from '../helpers/render-text.ts';

export const OCR_CASES: RenderTextOptions[] = [
  { lines: ['Hello world, this is Tessera.'], family: 'DejaVu Sans', size: 32 },
  { lines: ['The quick brown fox jumps', 'over the lazy dog 1234567890', 'Pack my box with five dozen'], family: 'Liberation Serif', size: 28 },
  { lines: ['Rotated line of text'], family: 'Liberation Sans', size: 30, angle: 12 },
  { lines: ['Upside down text here'], family: 'DejaVu Serif', size: 30, angle: 180 },
  { lines: ['Small print: 42 items'], family: 'Liberation Mono', size: 18 },
  { lines: ['Bold heading'], family: 'DejaVu Sans', size: 48, weight: 'bold' },
  { lines: ['Italic words matter too'], family: 'Liberation Serif', size: 26, style: 'italic' },
  { lines: ['Tilted the other way 2024'], family: 'DejaVu Sans Mono', size: 24, angle: -15 },
  {
    lines: ['Edge inference runs models close', 'to the user, in the browser tab or', 'on a small server near them. It', 'saves bandwidth and keeps data local.'],
    family: 'DejaVu Sans',
    size: 20,
    lineHeight: 1.3,
  },
  { lines: ['Invoice #3141 total: $59.26'], family: 'Liberation Sans', size: 22 },
  { lines: ['Meeting moved to Thursday at 3 pm'], family: 'Liberation Sans', size: 24 },
  { lines: ['Call us at 555-0199 anytime'], family: 'Liberation Serif', size: 30, angle: 180 },
  { lines: ['Emphasis in italic style'], family: 'DejaVu Sans', size: 28, style: 'italic', angle: -10 },
];

/** Edit distance (insertions, deletions, substitutions), by code point. */
export function levenshtein(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[y.length]!;
}
