/**
 * CPU time of a process and its descendants, and of the whole machine, from
 * /proc (Linux only): bench:serve reports how many cores each session used
 * during a run, so a pool that falls short of the sum of its sessions alone
 * can be told apart: sessions starved of CPU (both busy on too few cores)
 * or routing that leaves one idle.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { pids, statOf } from './proc.ts';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux everywhere in practice). */
const HZ = 100;

/** utime + stime of one process (or `<pid>/task/<tid>`, one thread) in seconds; 0 once it is gone. */
function cpuOf(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command's closing paren: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / HZ;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds used so far by `pid` and every live descendant (a session's
 * engine child process included).
 *
 * @example
 * const before = treeCpuSeconds(pid); await work(); const cores = (treeCpuSeconds(pid) - before) / seconds;
 */
export function treeCpuSeconds(pid: number): number {
  const children = new Map<number, number[]>();
  for (const p of pids()) {
    const ppid = statOf(p)?.ppid;
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), p]);
  }
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    total += cpuOf(p);
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

/** The machine's busy and total CPU seconds so far, over all cores (from /proc/stat). */
export function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0) / HZ;
    const idle = ((fields[3] ?? 0) + (fields[4] ?? 0)) / HZ;
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** The executable name of a process (/proc/<pid>/comm); undefined once it is gone. */
function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds so far of every thread of each process named `comm` under
 * `pid` (itself included), by thread id: the busiest thread tells whether a
 * single-threaded runtime (workerd runs a Worker and its Durable Objects on
 * one thread under `wrangler dev`) is what limits a benchmark.
 *
 * @example
 * const a = threadCpuSeconds(dev.pid, 'workerd'); await work(); const b = threadCpuSeconds(dev.pid, 'workerd');
 * const busiest = Math.max(...[...b].map(([tid, s]) => (s - (a.get(tid) ?? 0)) / seconds));
 */
export function threadCpuSeconds(pid: number, comm: string): Map<number, number> {
  const out = new Map<number, number>();
  const children = new Map<number, number[]>();
  for (const p of pids()) {
    const ppid = statOf(p)?.ppid;
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), p]);
  }
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    stack.push(...(children.get(p) ?? []));
    if (commOf(p) !== comm) continue;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) out.set(Number(tid), cpuOf(`${p}/task/${tid}`));
  }
  return out;
}
