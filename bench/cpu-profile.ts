// SPDX-License-Identifier: Apache-2.0
// Reads a V8 CPU profile (`Profiler.stop` result or a `--cpu-prof` .cpuprofile file) into the top self-time
// lines the benchmarks print. Shared by netstack.bench.ts (in-process profile) and proxy.bench.ts (child files).
import { readFileSync } from 'node:fs';

export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * Top self-time functions of a V8 CPU profile. Native frames (C++ bindings: dgram's send, sodium-native's
 * AEAD, whose symbol V8 may guess wrong, i.e. `extension_pbkdf2_sha512_async`) are named after their
 * JavaScript caller, so `[native send] < doSend` reads as the sendmsg() under dgram.
 */
export function topFunctions(profile: CpuProfile, n: number): string[] {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const parentOf = new Map<number, CpuProfileNode>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parentOf.set(c, node);
  const where = (node: CpuProfileNode) => {
    const f = node.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(packages|node_modules|node:)/, '$1')}:${f.lineNumber + 1}`;
  };
  const byName = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const t = self.get(node.id) ?? 0;
    total += t;
    const f = node.callFrame;
    let key: string;
    if (f.url) key = where(node);
    else if (f.functionName.startsWith('('))
      key = f.functionName; // (idle), (program), (garbage collector)
    else {
      const caller = parentOf.get(node.id);
      key = `[native ${f.functionName}] < ${caller ? where(caller) : '?'}`;
    }
    byName.set(key, (byName.get(key) ?? 0) + t);
  }
  return [...byName.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([k, t]) => `${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`);
}

/** topFunctions() of a .cpuprofile file written by `node --cpu-prof`. */
export function topFunctionsOfFile(file: string, n: number): string[] {
  return topFunctions(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, n);
}
