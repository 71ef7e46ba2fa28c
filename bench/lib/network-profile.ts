/**
 * Named network conditions for the browser benchmarks. A real visitor
 * downloads from a CDN, not over loopback: the figures that decide defaults
 * (concurrency, how much to overlap) are taken under these profiles.
 */

export interface NetworkProfile {
  name: 'loopback' | 'cdn' | 'slow';
  /** Round-trip time: each request waits one before its first byte, each new connection one more (the TCP handshake). */
  rttMs: number;
  /** Bandwidth cap of one TCP connection, bytes per second (a CDN edge's per-flow share). */
  connectionBytesPerSec: number;
  /** Bandwidth shared by every connection (the visitor's access link), bytes per second. */
  linkBytesPerSec: number;
}

const MB = 1_000_000;

export const NETWORK_PROFILES: Record<NetworkProfile['name'], NetworkProfile> = {
  loopback: { name: 'loopback', rttMs: 0, connectionBytesPerSec: Number.POSITIVE_INFINITY, linkBytesPerSec: Number.POSITIVE_INFINITY },
  cdn: { name: 'cdn', rttMs: 30, connectionBytesPerSec: 20 * MB, linkBytesPerSec: 150 * MB },
  slow: { name: 'slow', rttMs: 80, connectionBytesPerSec: 3 * MB, linkBytesPerSec: 12 * MB },
};

/**
 * @example
 * const profile = networkProfile(args.network ?? 'loopback'); // throws on an unknown name
 */
export function networkProfile(name: string): NetworkProfile {
  const profile = NETWORK_PROFILES[name as NetworkProfile['name']];
  if (!profile) throw new Error(`--network must be one of ${Object.keys(NETWORK_PROFILES).join(', ')}, got ${name}`);
  return profile;
}

/**
 * For a table: `cdn (30 ms RTT, 20 MB/s per connection, 150 MB/s link)`.
 *
 * @example
 * describeProfile(NETWORK_PROFILES.loopback); // 'loopback (no shaping)'
 */
export function describeProfile(profile: NetworkProfile): string {
  if (profile.name === 'loopback') return 'loopback (no shaping)';
  const rate = (bps: number) => `${(bps / MB).toFixed(0)} MB/s`;
  return `${profile.name} (${profile.rttMs} ms RTT, ${rate(profile.connectionBytesPerSec)} per connection, ${rate(profile.linkBytesPerSec)} link)`;
}
