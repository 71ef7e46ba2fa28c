/**
 * Generation shared across tabs in real Chromium (real Web Locks and
 * BroadcastChannel; two shares in one page behave as two tabs): the follower
 * streams tokens from the leader's session, its abort stops the leader's
 * loop, and a leader that leaves mid-stream fails that stream with
 * `unavailable` while the follower takes over.
 */
import { describe, expect, inject, it } from 'vitest';
import { createInProcessEngine } from '../../src/engine/in-process-engine.ts';
import type { GenerateChunk } from '../../src/protocol/generation.ts';
import { shareGeneratorAcrossTabs } from '../../src/transport/tab-generator.ts';
import type { LlamaExpected } from '../helpers/llama-browser-fixtures.ts';

const packUrl = inject('llamaPackUrl');
const expected = (async () => (await fetch(new URL('../tiny-llama-expected.json', packUrl))).json() as Promise<LlamaExpected>)();

async function until(check: () => boolean, what: string): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > 30_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('generation shared across tabs', () => {
  it('a follower streams from the leader, cancels it, and takes over when it leaves', async () => {
    const want = await expected;
    const { prompt, greedyIds } = want.prompts[0] as LlamaExpected['prompts'][number];
    const name = `tessera:gen:test-${Date.now()}-${Math.random()}`;
    const engine = createInProcessEngine();
    const loads: string[] = [];
    const load = (tab: string) => () => {
      loads.push(tab);
      return engine.loadGenerator(packUrl, { device: 'wasm', cache: { type: 'memory' } });
    };
    const a = shareGeneratorAcrossTabs({ name, tabId: 'a', load: load('a') });
    await until(() => a.role === 'leader', 'tab a to lead');
    const b = shareGeneratorAcrossTabs({ name, tabId: 'b', load: load('b') });
    try {
      const chunks: GenerateChunk[] = [];
      const stream = b.generate({ prompt, maxNewTokens: want.maxNewTokens }, { onToken: (c) => chunks.push(c) });
      const iterated: GenerateChunk[] = [];
      for await (const c of stream) iterated.push(c);
      const result = await stream.result;
      expect(await stream.servedBy).toBe('a');
      expect(b.role).toBe('follower');
      const ids = iterated.flatMap((c) => c.tokenIds);
      expect(result.finishReason === 'stop' ? [...ids, greedyIds[greedyIds.length - 1]] : ids).toEqual(greedyIds);
      expect(chunks).toEqual(iterated);
      expect(iterated.map((c) => c.text).join('')).toBe(result.text);
      expect(await b.countTokens(prompt)).toBe(result.promptTokens);

      // The follower's abort reaches the leader's loop. BroadcastChannel goes
      // through the browser process both ways (chunks in flight, then the
      // cancel), and a tiny model's step is a few ms, so a few more tokens
      // than the two seen may be made; far fewer than the 200 asked for.
      const controller = new AbortController();
      let n = 0;
      const aborted = await b.generate({ prompt, maxNewTokens: 200 }, { signal: controller.signal, onToken: () => ++n === 2 && controller.abort() }).result;
      expect(aborted.finishReason).toBe('abort');
      expect(aborted.completionTokens).toBeLessThan(30);

      // The leader leaves mid-stream: that stream fails loudly, the follower leads and serves the next one itself.
      let m = 0;
      const cut = b.generate({ prompt, maxNewTokens: 200 }, { onToken: () => ++m === 2 && a.close() });
      await expect(cut.result).rejects.toMatchObject({ code: 'unavailable' });
      await until(() => b.role === 'leader', 'tab b to take over');
      const after = b.generate({ prompt, maxNewTokens: 3 });
      expect((await after.result).completionTokens).toBeGreaterThan(0);
      expect(await after.servedBy).toBe('b');
      expect(loads).toEqual(['a', 'b']);
    } finally {
      a.close();
      b.close();
      await engine.dispose();
    }
  });
});
