// SPDX-License-Identifier: Apache-2.0
// Preconditions of end-to-end tests: root, a TUN device and the external tools. A test that cannot run says
// why in one line (`t.skip(reason)`); as root on a machine with the tools it runs.

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

/** Tools every namespace test uses. */
export const BASE_TOOLS = ['ip', 'iptables', 'wireguard-go', 'wg'] as const;

/** Absolute path of `tool` on PATH (plus the sbin directories, which non-login shells may omit), or undefined. */
export function which(tool: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * Why a root test cannot run here, or undefined when it can. Usable as `describe(name, { skip: rootSkipReason() })`.
 */
export function rootSkipReason(tools: readonly string[] = BASE_TOOLS): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'needs root: creates network namespaces, veth pairs and TUN devices';
  }
  const missing = tools.filter((t) => which(t) === undefined);
  if (missing.length > 0) return `needs ${missing.join(', ')} on PATH (run scripts/install-deps.sh)`;
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return 'needs /dev/net/tun for wireguard-go';
  }
  return undefined;
}

/** Skips `t` with a one-line reason and returns false when the test cannot run; returns true when it can. */
export function needsRoot(t: TestContext, tools: readonly string[] = BASE_TOOLS): boolean {
  const reason = rootSkipReason(tools);
  if (reason === undefined) return true;
  t.skip(reason);
  return false;
}
