/**
 * The few /proc reads the benchmarks need (Linux only): which processes
 * exist, their command lines, parents and process groups. Each answers
 * nothing rather than throwing when /proc is missing or a process ended.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Every live pid; empty without /proc. */
export function pids(): number[] {
  try {
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [];
  }
}

/** The command line, arguments joined by NUL; undefined once the process is gone. */
export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Parent and process group, from /proc/<pid>/stat; undefined once the process is gone. */
export function statOf(pid: number): { ppid: number; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command's closing paren (the command may hold spaces): state ppid pgrp ...
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

/**
 * The browser process of a profile: its command line names the profile
 * folder and, unlike its children, has no `--type=`. 0 when not found.
 *
 * @example
 * const browserPid = findBrowserPid(browser.profile);
 */
export function findBrowserPid(profile: string): number {
  return pids().find((pid) => {
    const cmd = cmdline(pid);
    return cmd !== undefined && cmd.includes(profile) && !cmd.includes('--type=');
  }) ?? 0;
}
