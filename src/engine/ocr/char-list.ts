import { TesseraError } from '../../errors.ts';

/**
 * The recogniser's classes from its dictionary file (one character a line):
 * index 0 is the CTC blank, then the dictionary, then a space, which is how
 * PaddleOCR builds them (`use_space_char`). Give `classes` (the model's
 * output size) to check that the dictionary belongs to the model.
 *
 * @example
 * const chars = parseCharList(await (await fetch(keysUrl)).text(), 6625);
 */
export function parseCharList(dictionary: string, classes?: number): string[] {
  const lines = dictionary.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const chars = ['', ...lines, ' '];
  if (classes !== undefined && classes !== chars.length) {
    throw new TesseraError(
      'invalid-model',
      `the character list gives ${chars.length} classes (blank + ${lines.length} + space) but the recogniser outputs ${classes}; use the dictionary that ships with this model`,
      { details: { expected: classes, got: chars.length } },
    );
  }
  return chars;
}
