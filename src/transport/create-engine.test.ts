import { describe, expect, it } from 'vitest';
import { createEngine } from './create-engine.ts';

describe('createEngine', () => {
  it('runs in-process in Node by default', async () => {
    const engine = await createEngine();
    expect(engine.transport).toBe('in-process');
    await engine.dispose();
  });

  it('refuses an unknown transport', async () => {
    await expect(createEngine({ transport: 'carrier-pigeon' as 'worker' })).rejects.toMatchObject({ code: 'invalid-argument' });
  });
});
