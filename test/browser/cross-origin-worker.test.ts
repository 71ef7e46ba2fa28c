/**
 * CrossOriginWorker in real Chromium: a module worker started from a blob:
 * bootstrap that imports a script by URL. Here the scripts are blob: modules
 * of the test page (the cross-origin case, embed.js on another origin
 * importing the host's engine worker, is test/e2e/e2e-chat.test.ts): it
 * reports when the script ran, its start signal never reaches the script's
 * listeners, and a script that cannot load, or never finishes, is reported
 * instead of waited on forever.
 */
import { describe, expect, it, vi } from 'vitest';
import { CrossOriginWorker, startedWithin } from '../../src/transport/cross-origin-worker.ts';

const moduleUrl = (source: string) => URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));

describe('CrossOriginWorker', () => {
  it('runs the script, passes messages both ways, and keeps its start signal from the listeners', async () => {
    const script = moduleUrl(`self.addEventListener('message', (e) => postMessage({ echo: e.data, url: import.meta.url }));`);
    const worker = new CrossOriginWorker(script, { name: 'echo' });
    const seen: unknown[] = [];
    const listener = (e: Event) => seen.push((e as MessageEvent).data);
    worker.addEventListener('message', listener);
    // Sent before the script ran: the worker's queue holds it until the import is done.
    worker.postMessage('early', []);
    await startedWithin(worker, 10_000);
    worker.postMessage('late', []);
    await expect.poll(() => seen.length).toBe(2);
    expect(seen).toEqual([
      { echo: 'early', url: script },
      { echo: 'late', url: script },
    ]);
    worker.removeEventListener('message', listener);
    worker.postMessage('unheard', []);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(2);
    worker.terminate();
    URL.revokeObjectURL(script);
  });

  it('rejects `started` with why when the script cannot be loaded', async () => {
    const missing = new URL('/no-such-engine-worker.js', location.href).href;
    const worker = new CrossOriginWorker(missing);
    await expect(worker.started).rejects.toMatchObject({ code: 'unavailable', message: expect.stringContaining(`a worker running ${missing} could not start on this page`) });
    worker.terminate();
  });

  it('gives up on a script that never finishes starting, and ends its worker', async () => {
    const script = moduleUrl('await new Promise(() => {});');
    const worker = new CrossOriginWorker(script);
    const terminate = vi.spyOn(worker, 'terminate');
    const started = performance.now();
    await expect(startedWithin(worker, 300)).rejects.toMatchObject({ code: 'timeout', message: 'the worker did not start within 300 ms' });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(terminate).toHaveBeenCalledTimes(1);
    URL.revokeObjectURL(script);
  });
});
