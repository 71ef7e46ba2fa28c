/**
 * Samples the resident memory of Chromium's renderer processes (pages and
 * their dedicated workers live there; so does the wasm heap) from /proc, so a
 * benchmark can report the peak during a load. Linux only; where /proc is
 * missing the sampler reports NaN rather than a made-up figure.
 */
import { readdirSync, readFileSync } from 'node:fs';

function rendererPids(browserPid: number): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes('--type=renderer')) continue;
      // Only this benchmark's browser: the renderer's ancestry is checked loosely
      // through the user-data-dir flag the browser passed down.
      if (browserPid > 0 && !isDescendant(Number(entry), browserPid)) continue;
      pids.push(Number(entry));
    } catch {
      // The process ended between readdir and read: skip it.
    }
  }
  return pids;
}

function isDescendant(pid: number, ancestor: number): boolean {
  let current = pid;
  for (let depth = 0; depth < 8 && current > 1; depth++) {
    if (current === ancestor) return true;
    try {
      const stat = readFileSync(`/proc/${current}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      current = ppid;
    } catch {
      return false;
    }
  }
  return current === ancestor;
}

function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * @example
 * const sampler = startRendererMemorySampler(browserPid);
 * await coldLoad();
 * const peak = sampler.stop(); // bytes, max over samples of the largest renderer
 */
export function startRendererMemorySampler(browserPid: number, intervalMs = 25): { stop(): number } {
  let peak = Number.NaN;
  const sample = () => {
    for (const pid of rendererPids(browserPid)) {
      const rss = rssBytes(pid);
      if (Number.isNaN(peak) || rss > peak) peak = rss;
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
