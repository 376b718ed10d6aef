// SPDX-License-Identifier: Apache-2.0
// What the benchmarks read about a child process from Linux /proc: resident memory and CPU time.
import { readFileSync } from 'node:fs';

/** Resident set size of `pid` in MiB (VmRSS of /proc/PID/status); NaN if the line is missing. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Peak resident set size of `pid` in MiB so far (VmHWM of /proc/PID/status); NaN if the line is missing. */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** User and system CPU seconds a process has used so far (/proc/PID/stat fields 14 and 15, in clock ticks). */
export function cpuSeconds(pid: number): { user: number; sys: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux
  return { user: Number(fields[11]) / CLOCK_TICKS, sys: Number(fields[12]) / CLOCK_TICKS };
}
