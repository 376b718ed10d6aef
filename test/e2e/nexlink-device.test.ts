// SPDX-License-Identifier: Apache-2.0
// Demo 2 through nexlink (issue 14): no hand-written egress rule. The real control plane, the test cluster
// that runs Pods, the real nexodus-server, nexlink from its Helm chart; demo 2's remote device (nexd agent
// mode, hostname demo2-device, VPC address 100.100.0.1, `python3 -m http.server 80`) in the agent lab.
//
//   a selector-less Service annotated nexlink.nexodus.io/device: demo2-device -> a client Pod curling the
//     Service by name gets "Hello from demo2-device" (nexlink's proxy, and the EndpointSlice it writes)
//   the device re-registers (fresh state, another --request-ip) -> the client gets the page again (times
//     printed), the egress rules having followed the hostname to the new address
//   the device deleted through the API -> UnknownDevice, the proxy Pod stays without a rule; registered
//     again (another address) -> the same Pod reaches it
//   an unknown device, a Service with a selector -> a Warning Event and a False condition; nexlink runs on
//   the annotation removed -> the proxy and the slice go, the Service stays
//   demo 1: a LoadBalancer of class nexodus.io/vpc -> its status lists VPC addresses the device curls
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import { AgentLab, type NexdIn, type Spoke } from './lib/agent-lab.js';
import {
  DEMO2_DEVICE_HOSTNAME,
  DEMO2_DEVICE_IP,
  DemoSite,
  startDemo2Agent,
  startDemo2Device,
} from './lib/demos.js';
import { exec, Lab, waitFor } from './lib/netns.js';
import {
  curlClientPod,
  installNexlink,
  nexlinkSkipReason,
  nexodusAdmin,
  nginxPages,
  savePodLogs,
  timedLines,
} from './lib/nexlink.js';

const skip = nexlinkSkipReason(['wg', 'python3']);

const NS = 'nl-dev';
/** Where the device comes back after re-registering with a fresh state. */
const MOVED_IP = '100.100.0.9';
/** Where it comes back after being deleted through the API. */
const THIRD_IP = '100.100.0.11';
const PAGE = `Hello from ${DEMO2_DEVICE_HOSTNAME}`;

/** Demo 1's nginx behind a LoadBalancer that nexlink serves on the VPC (Tailscale's operator's shape). */
const LOAD_BALANCER = `
apiVersion: v1
kind: Service
metadata: {name: nginx-vpc}
spec:
  type: LoadBalancer
  loadBalancerClass: nexodus.io/vpc
  selector: {app: nginx}
  ports: [{name: http, port: 80, targetPort: 80}]
`;

/** The user's Service: ports, no selector, the annotation naming the device by hostname. */
const SERVICE = `
apiVersion: v1
kind: Service
metadata:
  name: demo2
  annotations: {nexlink.nexodus.io/device: ${DEMO2_DEVICE_HOSTNAME}}
spec:
  ports: [{name: http, port: 80}]
`;

describe('nexlink: a Service annotated with a device reaches it (demo 2 without a rule)', {
  skip,
  timeout: 420_000,
}, () => {
  let lab: Lab;
  let hub: AgentLab;
  let site: DemoSite;
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;
  let device: Spoke;
  let agent: NexdIn;

  const kubectl = (args: string[], input?: string) => site.kubectl(args, input);
  const client = (sinceMs: number) => timedLines(site.cluster.logs(NS, 'client'), sinceMs);
  const firstPage = (sinceMs: number, timeoutMs: number) =>
    waitFor(
      `"${PAGE}" in the client's log`,
      () => client(sinceMs).find((l) => l.text === PAGE),
      timeoutMs,
      100,
    );
  const condition = (name: string, reason: string, timeoutMs = 15_000) =>
    waitFor(
      `the ${reason} condition on ${name}`,
      async () =>
        (await core.readNamespacedService({ name, namespace: NS })).status?.conditions?.find(
          (c) => c.type === 'nexlink.nexodus.io/DeviceReachable' && c.reason === reason,
        ),
      timeoutMs,
      200,
    );
  const event = (name: string, reason: string, timeoutMs = 15_000) =>
    waitFor(
      `the ${reason} Event on ${name}`,
      async () =>
        (
          await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${name}` })
        ).items.find((e) => e.reason === reason),
      timeoutMs,
      200,
    );

  before(async () => {
    lab = await Lab.create('nxd');
    hub = await AgentLab.create(lab);
    site = await DemoSite.start(lab, hub, 1);
    core = site.cp.kc.makeApiClient(CoreV1Api);
    discovery = site.cp.kc.makeApiClient(DiscoveryV1Api);
    ({ spoke: device, agent } = await startDemo2Device(lab, hub, { hostname: DEMO2_DEVICE_HOSTNAME }));
    await installNexlink(kubectl, NS, hub.serverUrl);
    await kubectl(
      ['apply', '-n', NS, '-f', '-'],
      curlClientPod('client', `http://demo2.${NS}.svc.cluster.local/`),
    );
    await site.cluster.waitPodsReady(NS, 'app.kubernetes.io/name=nexlink', 1, 90_000);
  });

  after(
    async () => {
      if (site && core) await savePodLogs(site.cluster, core, [NS], 'nexlink-device-e2e-pods.log');
      await site?.stop();
      await lab?.cleanup();
    },
    { timeout: 60_000 },
  );

  test('the annotated Service gets a proxy and an EndpointSlice; the client gets the device page by name', async () => {
    const t0 = Date.now();
    await kubectl(['apply', '-n', NS, '-f', '-'], SERVICE);
    const first = await firstPage(t0, 90_000);
    process.stdout.write(`# nexlink device: annotation to first page ${first.t - t0} ms\n`);
    const slices = await discovery.listNamespacedEndpointSlice({
      namespace: NS,
      labelSelector: 'kubernetes.io/service-name=demo2',
    });
    assert.equal(slices.items.length, 1);
    const [slice] = slices.items;
    assert.equal(slice!.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'], 'nexlink.nexodus.io');
    assert.deepEqual(
      slice!.ports?.map((p) => [p.name, p.port]),
      [['http', 20000]],
    );
    const [proxy] = await site.cluster.waitPodsReady(NS, 'nexlink.nexodus.io/role=device', 1);
    assert.deepEqual(
      slice!.endpoints.map((e) => e.addresses[0]),
      [proxy!.status?.podIP],
    );
    const cond = await condition('demo2', 'Reachable');
    assert.equal(cond.status, 'True');
    assert.match(
      cond.message,
      new RegExp(`${DEMO2_DEVICE_HOSTNAME} at ${DEMO2_DEVICE_IP.replaceAll('.', '\\.')}`),
    );
  });

  test('the device re-registers with a new VPC address: the egress follows and the client gets the page again', async () => {
    const stopped = Date.now();
    await agent.stop();
    // Stopped, the device is offline: nexlink says so and keeps the proxy on its last address.
    const offline = await condition('demo2', 'DeviceOffline');
    assert.equal(offline.status, 'False');
    assert.match(offline.message, new RegExp(`\\(${DEMO2_DEVICE_IP.replaceAll('.', '\\.')}\\) is offline`));
    agent = await startDemo2Agent(hub, device, MOVED_IP, DEMO2_DEVICE_HOSTNAME);
    const registered = Date.now();
    const page = await firstPage(registered, 60_000);
    process.stdout.write(
      `# nexlink device: re-registered ${registered - stopped} ms after the stop; page again ${page.t - registered} ms after the registration (${page.t - stopped} ms after the stop)\n`,
    );
    const moved = await event('demo2', 'DeviceMoved');
    assert.equal(moved.type, 'Normal');
    assert.match(moved.message ?? '', new RegExp(`to ${MOVED_IP.replaceAll('.', '\\.')}$`));
    const cond = await condition('demo2', 'Reachable');
    assert.match(cond.message, new RegExp(`at ${MOVED_IP.replaceAll('.', '\\.')} `));
  });

  test('the device deleted through the API: the proxy stays without a rule; registered again, the same Pod reaches it', async () => {
    const [pod] = await site.cluster.waitPodsReady(NS, 'nexlink.nexodus.io/role=device', 1);
    await agent.stop();
    const devices = (await nexodusAdmin(hub, '/api/devices')) as { id: string; hostname: string }[];
    const mine = devices.filter((d) => d.hostname === DEMO2_DEVICE_HOSTNAME);
    assert.equal(mine.length, 2, 'the first registration and the second');
    for (const d of mine) await nexodusAdmin(hub, `/api/devices/${d.id}`, 'DELETE');
    const unknown = await condition('demo2', 'UnknownDevice');
    assert.equal(unknown.status, 'False');
    assert.equal((await event('demo2', 'UnknownDevice')).type, 'Warning');
    agent = await startDemo2Agent(hub, device, THIRD_IP, DEMO2_DEVICE_HOSTNAME);
    const registered = Date.now();
    const page = await firstPage(registered, 60_000);
    process.stdout.write(
      `# nexlink device: deleted and registered again, page ${page.t - registered} ms after the registration\n`,
    );
    const [now] = await site.cluster.waitPodsReady(NS, 'nexlink.nexodus.io/role=device', 1);
    assert.equal(now!.metadata?.uid, pod!.metadata?.uid, 'the same proxy Pod, not a new one');
    assert.match(
      (await condition('demo2', 'Reachable')).message,
      new RegExp(`at ${THIRD_IP.replaceAll('.', '\\.')} `),
    );
  });

  test('an unknown device and a Service with a selector: a Warning Event and a False condition each; nexlink runs on', async () => {
    await kubectl(
      ['apply', '-n', NS, '-f', '-'],
      `
apiVersion: v1
kind: Service
metadata: {name: nowhere, annotations: {nexlink.nexodus.io/device: no-such-device}}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: selected, annotations: {nexlink.nexodus.io/device: ${DEMO2_DEVICE_HOSTNAME}}}
spec: {selector: {app: client}, ports: [{port: 80}]}
`,
    );
    for (const [name, reason, message] of [
      ['nowhere', 'UnknownDevice', /no device with hostname no-such-device in the VPC: check/],
      ['selected', 'HasSelector', /remove the selector/],
    ] as const) {
      const ev = await event(name, reason);
      assert.equal(ev.type, 'Warning');
      assert.match(ev.message ?? '', message);
      assert.equal((await condition(name, reason)).status, 'False');
    }
    const [pod] = await site.cluster.waitPodsReady(NS, 'app.kubernetes.io/name=nexlink', 1);
    assert.equal(pod!.status?.containerStatuses?.[0]?.restartCount ?? 0, 0, 'nexlink did not crash');
    const sts = await kubectl(['get', 'statefulsets', '-n', NS, '-o', 'name']);
    assert.equal(sts.trim(), 'statefulset.apps/nexlink-device-demo2', 'no proxy for a refused Service');
  });

  test('the annotation removed: the proxy and the EndpointSlice go, the Service stays', async () => {
    const t0 = Date.now();
    await kubectl(['annotate', 'service', 'demo2', '-n', NS, 'nexlink.nexodus.io/device-']);
    await waitFor(
      'no StatefulSet and no EndpointSlice for demo2',
      async () => {
        const sts = await kubectl(['get', 'statefulsets', '-n', NS, '-o', 'name']);
        const slices = await discovery.listNamespacedEndpointSlice({
          namespace: NS,
          labelSelector: 'kubernetes.io/service-name=demo2',
        });
        return sts.trim() === '' && slices.items.length === 0 ? true : undefined;
      },
      30_000,
      250,
    );
    process.stdout.write(
      `# nexlink device: proxy and slice gone ${Date.now() - t0} ms after the annotation\n`,
    );
    const svc = await core.readNamespacedService({ name: 'demo2', namespace: NS });
    assert.equal(svc.spec?.ports?.[0]?.port, 80, 'the Service stays as the user wrote it');
    const left = await kubectl(['get', 'configmaps,secrets,serviceaccounts,roles', '-n', NS, '-o', 'name']);
    assert.doesNotMatch(left, /nexlink-device-demo2/, "none of the proxy's objects are left");
    await waitFor(
      "nexlink's condition to go with the annotation",
      async () =>
        (await core.readNamespacedService({ name: 'demo2', namespace: NS })).status?.conditions?.some(
          (c) => c.type === 'nexlink.nexodus.io/DeviceReachable',
        )
          ? undefined
          : true,
      10_000,
      200,
    );
  });

  test('annotated again, then the Service deleted: the proxy and the slice go with it', async () => {
    await kubectl(['annotate', 'service', 'demo2', '-n', NS, `nexlink.nexodus.io/device=${THIRD_IP}`]);
    const t0 = Date.now();
    const page = await firstPage(t0, 90_000);
    process.stdout.write(
      `# nexlink device: by VPC address, first page ${page.t - t0} ms after the annotation\n`,
    );
    await kubectl(['delete', 'service', 'demo2', '-n', NS]);
    await waitFor(
      'no StatefulSet, EndpointSlice or rules ConfigMap for demo2',
      async () => {
        const left = await kubectl(['get', 'statefulsets,endpointslices,configmaps', '-n', NS, '-o', 'name']);
        return /nexlink-device-demo2/.test(left) ? undefined : true;
      },
      30_000,
      250,
    );
  });

  // Demo 1 without a hand-written rule, the way Tailscale's operator does it: a LoadBalancer of class
  // nexodus.io/vpc is exported and its status lists the proxies' VPC addresses, which a remote device uses.
  test('demo 1 through nexlink: a LoadBalancer of class nexodus.io/vpc gets VPC addresses the remote device reaches', async () => {
    await kubectl(['apply', '-n', NS, '-f', '-'], nginxPages());
    await kubectl(['apply', '-n', NS, '-f', '-'], LOAD_BALANCER);
    const t0 = Date.now();
    const ingress = await waitFor(
      'VPC addresses in status.loadBalancer.ingress',
      async () => {
        const svc = await core.readNamespacedService({ name: 'nginx-vpc', namespace: NS });
        const ips = (svc.status?.loadBalancer?.ingress ?? [])
          .map((i) => i.ip)
          .filter((ip): ip is string => !!ip);
        return ips.some((ip) => ip.startsWith('100.100.')) ? ips : undefined;
      },
      120_000,
      250,
    );
    const statusMs = Date.now() - t0;
    assert.ok(
      ingress.every((ip) => ip.startsWith('100.100.') || ip.startsWith('200:')),
      ingress.join(' '),
    );
    const v4 = ingress.filter((ip) => ip.startsWith('100.100.'));
    // Each address answers from the device, through the VPC, with one of the two nginx Pods' pages.
    for (const ip of v4) {
      const page = await waitFor(
        `a page from ${ip} on the device`,
        async () => {
          const r = await exec(device.ns, 'curl', ['-sS', '--max-time', '2', `http://${ip}/`], {
            check: false,
          });
          return /^Hello from nginx-deployment-/.test(r.stdout) ? r.stdout.trim() : undefined;
        },
        30_000,
        250,
      );
      assert.match(page, /^Hello from nginx-deployment-/);
    }
    process.stdout.write(
      `# nexlink LoadBalancer: VPC addresses ${ingress.join(' ')} in the status ${statusMs} ms after the Service, pages from the device at +${Date.now() - t0} ms\n`,
    );
  });
});
