// SPDX-License-Identifier: Apache-2.0
// `npm run bench:nexlink` (root): how fast nexlink links a Service, and how it rides out an exporter's death,
// on the e2e tests' real control plane, test cluster and nexodus-server, with nexlink from its Helm chart in
// two namespaces that stand for two clusters (as test/e2e/nexlink.test.ts explains).
//
//   per export (BENCH_EXPORTS, default 20; --quick 5):
//     label nginx in bn-two -> the client Pod in bn-one (curl twice a second, 1 s timeout) gets its first page
//   for the first BENCH_KILLS of them (default 5; --quick 2), with both exporting replicas in the import:
//     delete one exporting proxy Pod -> failed requests, and the time until requests succeed again
//   then the label is removed and the next export starts from nothing (new devices, new proxies).
//
// Last line: label_to_request_p50_ms=<n> label_to_request_p99_ms=<n> kill_failed_requests_max=<n>
//            kill_recovery_max_ms=<n>
import { CoreV1Api } from '@kubernetes/client-node';
import { AgentLab } from '../test/e2e/lib/agent-lab.js';
import { DemoSite } from '../test/e2e/lib/demos.js';
import { Lab, waitFor } from '../test/e2e/lib/netns.js';
import {
  curlClientPod,
  exportLabel,
  installNexlink,
  nexlinkSkipReason,
  nexodusAdmin,
  nginxPages,
  serviceGone,
  timedLines,
} from '../test/e2e/lib/nexlink.js';

const quick = process.argv.includes('--quick');
const EXPORTS = Number(process.env.BENCH_EXPORTS ?? (quick ? 5 : 20));
const KILLS = Number(process.env.BENCH_KILLS ?? (quick ? 2 : 5));
const IMPORTER = 'bn-one';
const EXPORTER = 'bn-two';
const PAGE = /^Hello from nginx-deployment-/;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const skip = nexlinkSkipReason();
  if (skip) {
    process.stdout.write(`bench:nexlink skipped: ${skip}\n`);
    process.exitCode = 1;
    return;
  }
  const lab = await Lab.create('nxb');
  let site: DemoSite | undefined;
  try {
    const hub = await AgentLab.create(lab);
    site = await DemoSite.start(lab, hub, 1);
    const s = site;
    const core = s.cp.kc.makeApiClient(CoreV1Api);
    const kubectl = (args: string[], input?: string) => s.kubectl(args, input);
    for (const ns of [IMPORTER, EXPORTER])
      await installNexlink(kubectl, ns, hub.serverUrl, { realm: 'bench' });
    await kubectl(['apply', '-n', EXPORTER, '-f', '-'], nginxPages());
    await kubectl(
      ['apply', '-n', IMPORTER, '-f', '-'],
      curlClientPod('client', `http://nginx.${IMPORTER}.svc.cluster.local/`),
    );
    await s.cluster.waitPodsReady(EXPORTER, 'app=nginx', 2, 120_000);
    await s.cluster.waitPodsReady(IMPORTER, 'app=client', 1, 120_000);
    for (const ns of [IMPORTER, EXPORTER])
      await s.cluster.waitPodsReady(ns, 'app.kubernetes.io/name=nexlink', 1, 120_000);
    const lines = (since: number) => timedLines(s.cluster.logs(IMPORTER, 'client'), since);

    const linkMs: number[] = [];
    const kills: { failed: number; recoveryMs: number }[] = [];
    process.stdout.write('export  label->first request  kill: failed  recovery\n');
    for (let i = 0; i < EXPORTS; i++) {
      const t0 = Date.now();
      await kubectl(exportLabel('nginx', EXPORTER));
      const first = await waitFor(
        'the first page through the import',
        () => lines(t0).find((l) => PAGE.test(l.text)),
        120_000,
        100,
      );
      linkMs.push(first.t - t0);
      let killText = '';
      if (i < KILLS) {
        // Both exporters in the import's rules, then one of them dies.
        await waitFor(
          'both exporters in the import rules',
          async () => {
            const cm = await core
              .readNamespacedConfigMap({ name: 'nexlink-import-nginx-rules', namespace: IMPORTER })
              .catch(() => undefined);
            return (cm?.data?.egress ?? '').trim().split('\n').filter(Boolean).length === 2
              ? true
              : undefined;
          },
          60_000,
          250,
        );
        const tk = Date.now();
        await kubectl(['delete', 'pod', 'nexlink-export-nginx-0', '-n', EXPORTER, '--wait=false']);
        const until = tk + 20_000;
        await waitFor(
          '20 s of requests after the kill',
          () => (Date.now() > until ? true : undefined),
          30_000,
          250,
        );
        const after = lines(tk);
        const failures = after.filter((l) => !PAGE.test(l.text));
        const last = failures.at(-1);
        const recovered = last ? after.find((l) => l.t > last.t && PAGE.test(l.text)) : undefined;
        const recoveryMs = last ? (recovered ? recovered.t - tk : Number.POSITIVE_INFINITY) : 0;
        kills.push({ failed: failures.length, recoveryMs });
        killText = `${String(failures.length).padStart(12)}  ${String(recoveryMs).padStart(6)} ms`;
      }
      process.stdout.write(
        `${String(i + 1).padStart(6)}  ${String(first.t - t0).padStart(14)} ms${killText}\n`,
      );
      await kubectl(['label', 'service', 'nginx', '-n', EXPORTER, 'nexlink.nexodus.io/export-']);
      // The next export starts from nothing: the import gone here, the exporting Pods gone there.
      await waitFor('the import to go', () => serviceGone(core, 'nginx', IMPORTER), 60_000, 250).catch(
        async (err: unknown) => {
          // What kept the import: the metadata left in the VPC, and what both nexlinks logged.
          const me = (await nexodusAdmin(hub, '/api/users/me')) as { id: string };
          const md = await nexodusAdmin(hub, `/api/vpcs/${me.id}/metadata?key=nexlink`);
          const secrets = await kubectl(['get', 'secrets', '-n', EXPORTER, '-o', 'name']);
          process.stdout.write(`# metadata left: ${JSON.stringify(md)}\n# secrets: ${secrets}\n`);
          for (const ns of [IMPORTER, EXPORTER]) {
            const pods = await core.listNamespacedPod({
              namespace: ns,
              labelSelector: 'app.kubernetes.io/name=nexlink',
            });
            for (const p of pods.items)
              process.stdout.write(
                `# === ${ns}/${p.metadata?.name}\n${s.cluster.logs(ns, p.metadata!.name!).slice(-8000)}\n`,
              );
          }
          throw err;
        },
      );
      await waitFor(
        'the exporting Pods to go',
        async () =>
          (
            await core.listNamespacedPod({
              namespace: EXPORTER,
              labelSelector: 'nexlink.nexodus.io/role=export',
            })
          ).items.length === 0
            ? true
            : undefined,
        60_000,
        250,
      );
    }
    const sorted = [...linkMs].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const failedMax = Math.max(0, ...kills.map((k) => k.failed));
    const recoveryMax = Math.max(0, ...kills.map((k) => k.recoveryMs));
    process.stdout.write(
      `label -> first request over ${linkMs.length} exports: p50 ${p50} ms, p99 ${p99} ms (min ${sorted[0]}, max ${sorted.at(-1)})\n`,
    );
    process.stdout.write(
      `exporter killed ${kills.length} times: failed requests ${kills.map((k) => k.failed).join(', ')}; recovery ${kills.map((k) => k.recoveryMs).join(', ')} ms\n`,
    );
    process.stdout.write(
      `label_to_request_p50_ms=${p50} label_to_request_p99_ms=${p99} kill_failed_requests_max=${failedMax} kill_recovery_max_ms=${recoveryMax}\n`,
    );
  } finally {
    await site?.stop();
    await lab.cleanup();
  }
}

await main();
