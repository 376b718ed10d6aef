// SPDX-License-Identifier: Apache-2.0
// What nexlink's end-to-end tests share (test/e2e/nexlink*.test.ts): nexlink installed into a namespace from
// its own Helm chart with its least-privilege Role, the Nexodus API read as the admin from the hub, and a
// client Pod that curls a URL twice a second and logs `t=<epoch ms> <answer>` lines.
//
//   await installNexlink(kubectl, 'nl-one', hub.serverUrl, { realm: 'shop' });
//   await kubectl(['apply', '-n', 'nl-one', '-f', '-'], curlClientPod('client', 'http://nginx/'));
//   timedLines(cluster.logs('nl-one', 'client'), t0).find((l) => l.text.startsWith('Hello'));
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import { ADMIN_PASSWORD, buildSkipReason } from '../../../packages/nexd/test/harness/processes.js';
import type { AgentLab } from './agent-lab.js';
import type { TestCluster } from './cluster/test-cluster.js';
import { namespaceWithCredentials } from './demos.js';
import { findHelm, renderChartYaml } from './helm.js';
import { kubeSkipReason } from './kube/control-plane.js';
import { exec } from './netns.js';
import { rootSkipReason } from './root.js';

/** kubectl with `input` on stdin; throws (with kubectl's stderr) on a non-zero exit. */
export type Kubectl = (args: string[], input?: string) => Promise<string>;

/** For `describe(..., { skip })`: root and the tools, the build, Kubernetes, helm. */
export function nexlinkSkipReason(tools: string[] = []): string | undefined {
  return (
    rootSkipReason(['ip', 'iptables', 'dnsmasq', 'curl', 'setpriv', ...tools]) ??
    buildSkipReason() ??
    kubeSkipReason() ??
    (findHelm() ? undefined : 'helm is not built (bash scripts/test-peers/build.sh helm)')
  );
}

/**
 * Creates namespace `ns` with the admin's credentials in `nexodus-credentials` and applies nexlink's chart
 * there (release `nexlink`, one proxy replica, a 5 s resync unless `values` say otherwise).
 */
export async function installNexlink(
  kubectl: Kubectl,
  ns: string,
  serviceUrl: string,
  values: Record<string, unknown> = {},
): Promise<void> {
  await namespaceWithCredentials(kubectl, ns);
  const chart = renderChartYaml(findHelm()!, 'nexlink', {
    release: 'nexlink',
    namespace: ns,
    values: { serviceUrl, proxyReplicas: 1, resyncSeconds: 5, ...values },
  });
  await kubectl(['apply', '-n', ns, '-f', '-'], chart);
}

/** A request to the Nexodus API as the admin, from the hub namespace (where the service listens). */
export async function nexodusAdmin(hub: AgentLab, path: string, method = 'GET'): Promise<unknown> {
  const token = await exec(hub.hub, 'curl', [
    '-sS',
    '--fail-with-body',
    '-d',
    `grant_type=password&client_id=nexodus-cli&username=admin&password=${ADMIN_PASSWORD}`,
    `${hub.serverUrl}/oauth2/token`,
  ]);
  const { access_token } = JSON.parse(token.stdout) as { access_token: string };
  const r = await exec(hub.hub, 'curl', [
    '-sS',
    '--fail-with-body',
    '-X',
    method,
    '-H',
    `authorization: Bearer ${access_token}`,
    `${hub.serverUrl}${path}`,
  ]);
  return JSON.parse(r.stdout);
}

/** A Pod `name` (label app=<name>) that curls `url` twice a second and prints `t=<epoch ms> <answer>`. */
export function curlClientPod(name: string, url: string): string {
  return `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: ${name}}}
spec:
  containers:
    - name: curl
      image: debian:12
      command: [sh, -c, 'while true; do echo "t=$(date +%s%3N) $(curl -sS --max-time 1 ${url} 2>&1)"; sleep 0.5; done']
`;
}

/** The `t=<ms> <text>` lines of a curl client's log from `sinceMs` (epoch ms) on. */
export function timedLines(log: string, sinceMs: number): { t: number; text: string }[] {
  return log
    .split('\n')
    .map((l) => /^t=(\d+) (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) >= sinceMs)
    .map((m) => ({ t: Number(m[1]), text: m[2]! }));
}

/** What every Pod of `namespaces` printed, into `<tmpdir>/<file>`, for a failure's post-mortem. */
export async function savePodLogs(
  cluster: TestCluster,
  core: CoreV1Api,
  namespaces: string[],
  file: string,
): Promise<void> {
  const out: string[] = [];
  for (const ns of namespaces) {
    for (const p of (await core.listNamespacedPod({ namespace: ns }).catch(() => ({ items: [] }))).items) {
      out.push(`=== ${ns}/${p.metadata?.name}\n${cluster.logs(ns, p.metadata!.name!).slice(-20_000)}`);
    }
  }
  const path = join(tmpdir(), file);
  writeFileSync(path, out.join('\n'));
  process.stdout.write(`# Pod logs in ${path}\n`);
}

/** For waitFor: true once Service `name` of `namespace` is gone (404), undefined while it exists. */
export function serviceGone(core: CoreV1Api, name: string, namespace: string): Promise<true | undefined> {
  return core.readNamespacedService({ name, namespace }).then(
    () => undefined,
    (err: { code?: number }) => (err.code === 404 ? true : undefined),
  );
}

/** `kubectl label` arguments that export Service `service` of `ns` with `replicas` exporting proxies. */
export function exportLabel(service: string, ns: string, replicas = 2): string[] {
  return [
    'label',
    'service',
    service,
    '-n',
    ns,
    'nexlink.nexodus.io/export=true',
    `nexlink.nexodus.io/replicas=${replicas}`,
  ];
}

/** nginx as in demo 1: two Pods, each serving "Hello from <its Pod name>", behind the Service `nginx`. */
export function nginxPages(): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx-deployment}
spec:
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      volumes: [{name: html, emptyDir: {}}]
      initContainers:
        - name: page
          image: busybox
          env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
          command: [sh, -c, 'echo "Hello from $POD_NAME" > /html/index.html']
          volumeMounts: [{name: html, mountPath: /html}]
      containers:
        - name: nginx
          image: nginx
          readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
          volumeMounts: [{name: html, mountPath: /usr/share/nginx/html}]
---
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  selector: {app: nginx}
  ports: [{name: http, port: 80, targetPort: 80}]
`;
}
