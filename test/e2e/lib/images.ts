// SPDX-License-Identifier: Apache-2.0
// The container images of `npm run image` for tests and benchmarks: podman with the project's own storage and
// configuration (scripts/images/env.sh), the image names, a build on demand (once per test process; layers are
// cached, so an unchanged tree takes seconds), and a one-line reason when this machine cannot run containers.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ENV_SH = join(REPO, 'scripts', 'images', 'env.sh');
export const IMAGE_VERSION: string = JSON.parse(
  readFileSync(join(REPO, 'packages', 'nexd', 'package.json'), 'utf8'),
).version;
export const NEXD_IMAGE = `localhost/nexodus-ts/nexd:${IMAGE_VERSION}`;
export const SERVER_IMAGE = `localhost/nexodus-ts/server:${IMAGE_VERSION}`;

/** podman's environment from scripts/images/env.sh (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, ...). */
let cachedEnv: NodeJS.ProcessEnv | undefined;
export function podmanEnv(): NodeJS.ProcessEnv {
  if (cachedEnv) return cachedEnv;
  const r = spawnSync('bash', ['-c', `source ${JSON.stringify(ENV_SH)} && env -0`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/images/env.sh failed: ${r.stderr}`);
  const env: NodeJS.ProcessEnv = {};
  for (const kv of r.stdout.split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  cachedEnv = env;
  return env;
}

/** Runs podman to completion with the project's configuration. */
export function podman(args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}) {
  const r = spawnSync('podman', args, {
    env: podmanEnv(),
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

function haveImage(name: string): boolean {
  return podman(['image', 'exists', name]).code === 0;
}

let built: { ok: true } | { ok: false; why: string } | undefined;
/** Builds both images with `npm run image` unless both exist already (once per process). */
export function ensureImages(): { ok: true } | { ok: false; why: string } {
  if (built) return built;
  if (haveImage(NEXD_IMAGE) && haveImage(SERVER_IMAGE)) {
    built = { ok: true };
    return built;
  }
  const r = spawnSync('bash', [join(REPO, 'scripts', 'images', 'build.sh')], {
    encoding: 'utf8',
    timeout: 20 * 60_000,
  });
  built =
    r.status === 0
      ? { ok: true }
      : {
          ok: false,
          why: `npm run image failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`,
        };
  return built;
}

/**
 * Why containers cannot be run here, or undefined: podman missing, not root (the tests join network
 * namespaces), or the OCI runtime failing on a trivial container (its exact error, in one line).
 */
export function containerSkipReason(): string | undefined {
  if (spawnSync('podman', ['--version']).status !== 0)
    return 'needs podman (scripts/install-deps.sh installs it)';
  if (process.getuid?.() !== 0) return 'needs root (rootful podman in network namespaces)';
  const images = ensureImages();
  if (!images.ok) return images.why;
  const r = podman(['run', '--rm', '--network', 'none', NEXD_IMAGE, 'true']);
  if (r.code !== 0) return `this machine cannot run an OCI container: ${r.stderr.trim().split('\n').pop()}`;
  return undefined;
}
