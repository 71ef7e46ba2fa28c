import { describe, expect, it } from 'vitest';
import { readPrewarmConsent } from './prewarm-consent.ts';

const storage = (value: string | null) => ({ getItem: () => value });

describe('readPrewarmConsent', () => {
  it('is off by default and remembers what was saved', () => {
    expect(readPrewarmConsent(storage(null))).toEqual({ allowed: false, budgetMb: 256 });
    expect(readPrewarmConsent(storage('{"allowed":true,"budgetMb":1024}'))).toEqual({ allowed: true, budgetMb: 1024 });
  });

  it('never reads consent into a damaged or foreign value', () => {
    expect(readPrewarmConsent(storage('{nope'))).toEqual({ allowed: false, budgetMb: 256 });
    expect(readPrewarmConsent(storage('{"allowed":"yes","budgetMb":-5}'))).toEqual({ allowed: false, budgetMb: 256 });
    expect(readPrewarmConsent(storage('{"allowed":true,"budgetMb":12.7}'))).toEqual({ allowed: true, budgetMb: 12 });
  });
});
