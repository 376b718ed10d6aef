// SPDX-License-Identifier: Apache-2.0
// Where the pinned test peers built by `scripts/test-peers/build.sh` live: the cache
// `${NEXODUS_TEST_CACHE:-~/.cache/nexodus-test}/<name>-<version>/`, version from `scripts/test-peers/<name>/VERSION`.
// A test that needs a peer calls `testPeerBin(t, name, bin)`: outside CI a missing build skips with the command
// that makes it; in CI (CI=true) it fails, because `npm test` builds every peer first.

import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const PEERS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'scripts', 'test-peers');

/** The cache dir of one peer's pinned build, e.g. `~/.cache/nexodus-test/etcd-3.5.17`. */
export function testPeerDir(name: string): string {
  const version = readFileSync(join(PEERS_DIR, name, 'VERSION'), 'utf8').trim();
  const root = process.env.NEXODUS_TEST_CACHE ?? join(homedir(), '.cache', 'nexodus-test');
  return join(root, `${name}-${version}`);
}

/** Path of `bin` in `name`'s build, or undefined when it has not been built. */
export function findTestPeerBin(name: string, bin: string): string | undefined {
  const p = join(testPeerDir(name), bin);
  try {
    accessSync(join(testPeerDir(name), '.complete'));
    accessSync(p, constants.X_OK);
    return p;
  } catch {
    return undefined;
  }
}

/**
 * Path of `bin` in `name`'s build. When it is missing: in CI throws (the build step failed), elsewhere skips `t`
 * with a one-line reason and returns undefined.
 */
export function testPeerBin(t: TestContext, name: string, bin: string): string | undefined {
  const p = findTestPeerBin(name, bin);
  if (p !== undefined) return p;
  const why = `needs ${bin} of test peer ${name} (build it: scripts/test-peers/build.sh ${name})`;
  if (process.env.CI) throw new Error(`${why}; npm test builds it before the tests`);
  t.skip(why);
  return undefined;
}
