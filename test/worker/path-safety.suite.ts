/**
 * A request for one model's revision can never return bytes from anywhere else:
 * encoded dots and slashes, backslashes, absolute paths, NULs, blob hashes and
 * other models' revisions all end in 400 or 404.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SELF } from 'cloudflare:test';
import { BASE, body, bytes, makePack, publish } from './fixtures.ts';

export function pathSafetySuite(): void {
  describe('path safety', () => {
    let revA: string;
    let revB: string;
    let secretSha: string;
    const secret = bytes(5000, 99);

    beforeAll(async () => {
      const a = await makePack('safe-a', [{ path: 'model.onnx', bytes: bytes(4000, 3) }, { path: 'sub/data.bin', bytes: bytes(4100, 4) }]);
      const b = await makePack('safe-b', [{ path: 'secret.bin', bytes: secret }]);
      await publish(a);
      await publish(b);
      revA = a.manifest.revision;
      revB = b.manifest.revision;
      secretSha = b.manifest.files[0]!.sha256;
    });

    const attempts = (): Array<[string, string]> => [
      ['encoded slashes', `/models/safe-a/${revA}/..%2f..%2fsafe-b%2f${revB}%2fsecret.bin`],
      ['fully encoded dots and slashes', `/models/safe-a/${revA}/%2e%2e%2f%2e%2e%2fsafe-b%2f${revB}%2fsecret.bin`],
      ['upper-case escapes', `/models/safe-a/${revA}/%2E%2E%2F%2E%2E%2Fsafe-b%2F${revB}%2Fsecret.bin`],
      ['encoded backslashes', `/models/safe-a/${revA}/..%5c..%5csafe-b%5c${revB}%5csecret.bin`],
      ['an encoded absolute path', `/models/safe-a/${revA}/%2fblobs%2f${secretSha}`],
      ['a double slash', `/models/safe-a/${revA}//blobs/${secretSha}`],
      ['the blob hash itself', `/models/safe-a/${revA}/${secretSha}`],
      ['the blob key', `/models/safe-a/${revA}/blobs/${secretSha}`],
      ['a NUL byte', `/models/safe-a/${revA}/model.onnx%00`],
      ['another model\'s revision', `/models/safe-a/${revB}/secret.bin`],
      ['a dotted segment inside the pack', `/models/safe-a/${revA}/sub/%2e%2e/%2e%2e/safe-b/${revB}/secret.bin`],
      ['a malformed escape', `/models/safe-a/${revA}/%zz`],
      ['an encoded name', `/models/safe%2db/${revB}/secret.bin`],
      ['dots in the name', `/models/safe-a..safe-b/${revB}/secret.bin`],
      ['an encoded revision', `/models/safe-b/${revB.slice(0, -1)}%${revB.charCodeAt(revB.length - 1).toString(16)}/secret.bin`],
      ['the current pointer', `/models/safe-a/${revA}/..%2fcurrent`],
    ];

    it('never returns another prefix\'s bytes', async () => {
      for (const [label, path] of attempts()) {
        const res = await SELF.fetch(`${BASE}${path}`);
        const bytesBack = await body(res);
        expect([400, 404], `${label}: ${path} -> ${res.status}`).toContain(res.status);
        expect(res.headers.get('Content-Type'), label).toContain('application/json');
        const error = JSON.parse(new TextDecoder().decode(bytesBack)) as { error: { code: string } };
        expect(['invalid-argument', 'not-found'], label).toContain(error.error.code);
      }
    });

    it('still serves the legitimate paths next to those attempts', async () => {
      expect((await SELF.fetch(`${BASE}/models/safe-b/${revB}/secret.bin`)).status).toBe(200);
      const nested = await SELF.fetch(`${BASE}/models/safe-a/${revA}/sub/data.bin`);
      expect(nested.status).toBe(200);
      expect(await body(nested)).toEqual(bytes(4100, 4));
      // The client-side URL parser resolves plain `..` before the request leaves.
      const resolved = await SELF.fetch(`${BASE}/models/safe-a/${revA}/sub/../model.onnx`);
      expect(resolved.status).toBe(200);
      await resolved.arrayBuffer();
    });
  });
}
