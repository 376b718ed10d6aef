#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The package's install step: compiles native/*.c with the node-gyp that ships with npm. The addon is
// Linux-only and optional: on another OS, or when the build fails, WireGuardNode uses dgram and
// sodium-native instead, so the install goes on and this says why (the test suite asserts that Linux
// CI has it).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.platform !== 'linux') {
  console.warn(
    `@nexodus/native: not built on ${process.platform} (Linux only); dgram and sodium-native are used`,
  );
  process.exit(0);
}
// npm puts its own node-gyp on PATH for lifecycle scripts (npm_config_node_gyp names it).
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.warn(
    `@nexodus/native: native build failed (${r.error?.message ?? `exit ${r.status}`}); dgram and sodium-native are used`,
  );
}
