/**
 * Samples the resident memory of Chromium's renderer processes (pages and
 * their dedicated workers live there; so does the wasm heap) and of its GPU
 * process (where WebGPU buffers live, SwiftShader's too) from /proc, so a
 * benchmark can report each one's peak during a load. Linux only; where /proc
 * is missing the sampler reports NaN rather than a made-up figure.
 */
import { readFileSync } from 'node:fs';
import { cmdline, pids, statOf } from './proc.ts';

export type ProcessKind = 'renderer' | 'gpu-process';

/** This browser's processes of a kind (every browser's when `browserPid` is 0). */
function processPids(browserPid: number, kind: ProcessKind): number[] {
  return pids().filter((pid) => cmdline(pid)?.includes(`--type=${kind}`) && (browserPid <= 0 || isDescendant(pid, browserPid)));
}

function isDescendant(pid: number, ancestor: number): boolean {
  let current = pid;
  for (let depth = 0; depth < 8 && current > 1; depth++) {
    if (current === ancestor) return true;
    const stat = statOf(current);
    if (!stat) return false;
    current = stat.ppid;
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
  return startProcessMemorySampler(browserPid, 'renderer', intervalMs);
}

/**
 * @example
 * const gpu = startProcessMemorySampler(browserPid, 'gpu-process');
 * await warmLoad();
 * const gpuPeak = gpu.stop();
 */
export function startProcessMemorySampler(browserPid: number, kind: ProcessKind, intervalMs = 25): { stop(): number } {
  let peak = Number.NaN;
  const sample = () => {
    for (const pid of processPids(browserPid, kind)) {
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
