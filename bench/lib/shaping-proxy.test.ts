import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomData, startRangeServer, type RangeServer } from '../../test/helpers/range-server.ts';
import { NETWORK_PROFILES, describeProfile, networkProfile, type NetworkProfile } from './network-profile.ts';
import { createPacer, reserve } from './pacer.ts';
import { startShapingProxy } from './shaping-proxy.ts';

describe('pacer', () => {
  it('delays each piece by its bytes over the rate and carries no idle credit', () => {
    const p = createPacer(1000); // 1000 B/s
    expect(reserve([p], 500, 0)).toBe(500);
    expect(reserve([p], 500, 0)).toBe(1000); // queued behind the first
    expect(reserve([p], 100, 5000)).toBe(100); // idle since 1000: starts at now, no burst
  });

  it('the slower of a connection and the link sets the wait; a slow connection does not hold the link for others', () => {
    const link = createPacer(10_000);
    const slow = createPacer(1000);
    const fast = createPacer(100_000);
    expect(reserve([slow, link], 1000, 0)).toBe(1000); // the connection is the bottleneck
    expect(link.freeAt).toBe(100);
    // Another connection on the same link waits only for the link's own booking.
    expect(reserve([fast, link], 1000, 0)).toBe(200);
    // Ten connections at full speed share the link: the aggregate rate is the link's.
    const many = Array.from({ length: 10 }, () => createPacer(100_000));
    const waits = many.map((c) => reserve([c, link], 1000, 1000));
    expect(Math.max(...waits)).toBeCloseTo(1000, 6); // 10 kB over a 10 kB/s link from t=1000 (link free at 200)
  });

  it('an infinite rate never delays', () => {
    expect(reserve([createPacer(Number.POSITIVE_INFINITY)], 1e12, 7)).toBe(0);
  });
});

describe('network profiles', () => {
  it('names the issue profiles and refuses others', () => {
    expect(describeProfile(NETWORK_PROFILES.cdn)).toBe('cdn (30 ms RTT, 20 MB/s per connection, 150 MB/s link)');
    expect(describeProfile(NETWORK_PROFILES.slow)).toBe('slow (80 ms RTT, 3 MB/s per connection, 12 MB/s link)');
    expect(describeProfile(networkProfile('loopback'))).toBe('loopback (no shaping)');
    expect(() => networkProfile('5g')).toThrow(/--network must be one of loopback, cdn, slow/);
  });
});

describe('shaping proxy over a real range server', () => {
  let server: RangeServer;
  let data: Uint8Array;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-proxy-'));
    data = randomData(3 * 1024 * 1024 + 17);
    await writeFile(join(dir, 'blob.bin'), data);
    server = await startRangeServer({ root: dir });
  });
  afterAll(() => server.close());

  const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  const profile: NetworkProfile = { name: 'cdn', rttMs: 40, connectionBytesPerSec: 4e6, linkBytesPerSec: 6e6 };

  it('is byte-exact for whole files and ranges, passes status and Range headers through, and paces to the caps', async () => {
    const proxy = await startShapingProxy(server.url, profile);
    try {
      const t0 = performance.now();
      const whole = await fetch(`${proxy.url}/blob.bin`);
      expect(whole.status).toBe(200);
      expect(whole.headers.get('etag')).toBe(`"${sha(data)}"`);
      const body = new Uint8Array(await whole.arrayBuffer());
      const ms = performance.now() - t0;
      expect(sha(body)).toBe(sha(data));
      // 3 MiB at 4 MB/s per connection is ~790 ms, plus RTTs; loopback alone takes a few ms.
      expect(ms).toBeGreaterThan(700);
      // ...and not far slower: timers must not cap the rate (generous, for a loaded machine).
      expect(ms).toBeLessThan(3000);

      const start = 1_000_003;
      const end = 2_500_000;
      const ranged = await fetch(`${proxy.url}/blob.bin`, { headers: { Range: `bytes=${start}-${end}` } });
      expect(ranged.status).toBe(206);
      expect(ranged.headers.get('content-range')).toBe(`bytes ${start}-${end}/${data.byteLength}`);
      expect(sha(new Uint8Array(await ranged.arrayBuffer()))).toBe(sha(data.subarray(start, end + 1)));

      const tail = await fetch(`${proxy.url}/blob.bin`, { headers: { Range: `bytes=${data.byteLength}-` } });
      expect(tail.status).toBe(416);
      await tail.arrayBuffer();

      // Four parallel ranges share the 6 MB/s link: together no faster than the link allows.
      const quarter = Math.ceil(data.byteLength / 4);
      const t1 = performance.now();
      const parts = await Promise.all(
        [0, 1, 2, 3].map(async (i) => {
          const a = i * quarter;
          const b = Math.min(data.byteLength, a + quarter) - 1;
          const res = await fetch(`${proxy.url}/blob.bin`, { headers: { Range: `bytes=${a}-${b}` } });
          return new Uint8Array(await res.arrayBuffer());
        }),
      );
      const parallelMs = performance.now() - t1;
      const joined = new Uint8Array(data.byteLength);
      parts.reduce((offset, part) => (joined.set(part, offset), offset + part.byteLength), 0);
      expect(sha(joined)).toBe(sha(data));
      expect(parallelMs).toBeGreaterThan((data.byteLength / profile.linkBytesPerSec) * 1000 * 0.9);
    } finally {
      await proxy.close();
    }
  });
});
