// SPDX-License-Identifier: Apache-2.0
// `npm run bench:image`: the container images of `npm run image` (built first when missing): their sizes, and
// the start-up time from `podman run` to 200 on /readyz, restricted as in the tests (uid 65532, no capability,
// read-only root), host network, against a nexodus-server of the build on loopback:
//   nexd:   `nexd proxy --ingress ...` registering with the server (readiness = registered, peers synced)
//   server: nexodus-server on SQLite in a fresh volume (readiness = the database answers)
// BENCH_RUNS (default 3) runs each; the median and the range are printed.
import { chownSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  ADMIN_PASSWORD,
  buildSkipReason,
  Child,
  freePort,
  ServerProcess,
  stopAll,
  tempDir,
} from '../packages/nexd/test/harness/processes.js';
import { containerSkipReason, NEXD_IMAGE, podman, podmanEnv, SERVER_IMAGE } from '../test/e2e/lib/images.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RESTRICTED = [
  '--user',
  '65532',
  '--cap-drop=ALL',
  '--security-opt',
  'no-new-privileges',
  '--read-only',
  '--read-only-tmpfs=false',
  '--tmpfs',
  '/tmp:rw,mode=1777',
  '--network',
  'host',
];

async function timeToReady(name: string, runArgs: string[], readyUrl: string): Promise<number> {
  const t0 = performance.now();
  const c = new Child('podman', ['run', '--rm', '--name', name, ...RESTRICTED, ...runArgs], podmanEnv());
  try {
    for (;;) {
      if (!c.running) throw new Error(`${name} exited before ready:\n${c.stdout}\n${c.stderr}`);
      const r = await fetch(readyUrl).catch(() => undefined);
      if (r?.status === 200) return performance.now() - t0;
      if (performance.now() - t0 > 120_000) throw new Error(`${name}: not ready after 120 s`);
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    podman(['rm', '--force', '--time', '2', name]);
    await c.exit;
  }
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)]!;
  return `median ${(median / 1000).toFixed(2)} s (min ${(s[0]! / 1000).toFixed(2)}, max ${(s.at(-1)! / 1000).toFixed(2)}, ${s.length} runs)`;
}

async function main(): Promise<void> {
  const skip = buildSkipReason() ?? containerSkipReason();
  if (skip) {
    console.log(`bench:image skipped: ${skip}`);
    return;
  }
  for (const image of [NEXD_IMAGE, SERVER_IMAGE]) {
    const size = Number(podman(['image', 'inspect', '--format', '{{.Size}}', image]).stdout.trim());
    console.log(`image ${image}: ${(size / 1e6).toFixed(0)} MB`);
  }
  const server = await ServerProcess.start();
  const nexd: number[] = [];
  const srv: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const health = await freePort();
      nexd.push(
        await timeToReady(
          `nexodus-bench-nexd-${process.pid}-${i}`,
          [
            '-e',
            'NEXD_USERNAME=admin',
            '-e',
            `NEXD_PASSWORD=${ADMIN_PASSWORD}`,
            '-e',
            `NEXD_HEALTH_ADDR=127.0.0.1:${health}`,
            '-e',
            'NEXD_LOCAL_ENDPOINT_IP=127.0.0.1',
            NEXD_IMAGE,
            'nexd',
            'proxy',
            '--ingress',
            'tcp:80:127.0.0.1:1',
            server.url,
          ],
          `http://127.0.0.1:${health}/readyz`,
        ),
      );
      const port = await freePort();
      const volume = tempDir('bench-image');
      chownSync(volume, 65532, 65532);
      srv.push(
        await timeToReady(
          `nexodus-bench-server-${process.pid}-${i}`,
          ['-v', `${volume}:/var/lib/nexodus`, SERVER_IMAGE, '--http-listen', `127.0.0.1:${port}`],
          `http://127.0.0.1:${port}/readyz`,
        ),
      );
    }
  } finally {
    await stopAll();
  }
  console.log(`start-up nexd (podman run -> /readyz 200): ${summary(nexd)}`);
  console.log(`start-up server (podman run -> /readyz 200, fresh SQLite): ${summary(srv)}`);
}

await main();
