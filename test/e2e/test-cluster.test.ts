// SPDX-License-Identifier: Apache-2.0
// The test cluster (test/e2e/lib/cluster) against the real control plane: the scheduler binds Pods to our
// node, the node agent runs them as processes in their own namespaces, the real ReplicaSet and EndpointSlice
// controllers act on the status it reports, the service proxy balances a ClusterIP Service and the DNS
// answers its name. The seed's nginx Deployment of demo 1 is applied as written (plus its missing
// apiVersion): two Pods whose init container writes "Hello from <pod>", behind nginx-service.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { TestCluster } from './lib/cluster/test-cluster.js';
import { ControlPlane, kubeSkipReason } from './lib/kube/control-plane.js';
import { exec, Lab, waitFor } from './lib/netns.js';
import { rootSkipReason } from './lib/root.js';

const skip = rootSkipReason(['ip', 'iptables', 'dnsmasq', 'curl', 'setpriv']) ?? kubeSkipReason();

const NGINX = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
spec:
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      volumes:
      - name: shared-data
        emptyDir: {}
      initContainers:
      - name: init-nginx
        image: nginx
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        command: ["sh", "-c", "echo \\"Hello from $POD_NAME\\" > /usr/share/nginx/html/index.html"]
        volumeMounts:
        - name: shared-data
          mountPath: /usr/share/nginx/html
      containers:
      - name: nginx
        image: nginx:latest
        ports:
        - containerPort: 80
        readinessProbe:
          httpGet: { path: /, port: 80 }
          periodSeconds: 1
        volumeMounts:
        - name: shared-data
          mountPath: /usr/share/nginx/html
---
apiVersion: v1
kind: Service
metadata:
  name: nginx-service
spec:
  selector:
    app: nginx
  ports:
  - name: http
    port: 80
    targetPort: 80
  type: ClusterIP
`;

describe('test cluster: real control plane + test node agent, service proxy and DNS', {
  skip,
  timeout: 300_000,
}, () => {
  let lab: Lab;
  let cp: ControlPlane;
  let cluster: TestCluster;
  let ns: string;

  before(async () => {
    lab = await Lab.create('tcl');
    cp = await ControlPlane.start();
    cluster = await TestCluster.start({ lab, index: 1, kubeconfig: cp.kc, apiServer: cp.server });
    ns = await cp.namespace();
  });

  after(
    async () => {
      await cluster?.stop();
      await cp?.stop();
      await lab?.cleanup();
    },
    { timeout: 60_000 },
  );

  /** Applies a one-shot Pod whose container `main` runs `script` and returns its log once it printed `done`. */
  async function runPod(name: string, script: string, podExtra = '', containerExtra = ''): Promise<string> {
    const yaml = `apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  restartPolicy: Never
${podExtra}
  containers:
  - name: main
    image: fedora:latest
    command: ["sh", "-c", ${JSON.stringify(`${script}; echo done`)}]
${containerExtra}
`;
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: yaml });
    assert.equal(r.code, 0, r.stderr);
    return waitFor(
      `pod ${name} to finish`,
      () => {
        const log = cluster.logs(ns, name);
        return /done\n$/.test(log) ? log : undefined;
      },
      30_000,
      100,
    );
  }

  test('the node registers and becomes Ready for the scheduler', async () => {
    const r = await cp.kubectl([
      'get',
      'node',
      cluster.nodeName,
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    ]);
    assert.equal(r.stdout, 'True');
  });

  test("the seed's nginx Deployment: two Pods Ready, their init containers' pages, EndpointSlice with both", async () => {
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: NGINX });
    assert.equal(r.code, 0, r.stderr);
    const pods = await cluster.waitPodsReady(ns, 'app=nginx', 2);
    for (const p of pods) {
      const page = await exec(cluster.nodeNs, 'curl', [
        '-s',
        '--max-time',
        '2',
        `http://${p.status!.podIP}/`,
      ]);
      assert.equal(page.stdout, `Hello from ${p.metadata!.name}\n`);
    }
    const eps = await waitFor(
      '2 ready endpoints',
      async () => {
        const j = await cp.kubectl([
          'get',
          'endpointslices',
          '-n',
          ns,
          '-l',
          'kubernetes.io/service-name=nginx-service',
          '-o',
          'jsonpath={.items[*].endpoints[*].addresses[0]}',
        ]);
        const ips = j.stdout.split(' ').filter(Boolean);
        return ips.length === 2 ? ips.sort() : undefined;
      },
      20_000,
      200,
    );
    assert.deepEqual(eps, pods.map((p) => p.status!.podIP!).sort());
  });

  test('a client Pod reaches nginx-service by its DNS name and the service proxy balances over both Pods', async () => {
    await cluster.proxy.settled();
    const log = await runPod(
      'client',
      `for i in $(seq 1 30); do curl -s --max-time 2 http://nginx-service.${ns}.svc.cluster.local/; done`,
    );
    const seen = new Set(log.split('\n').filter((l) => l.startsWith('Hello from nginx-deployment-')));
    assert.equal(seen.size, 2, `both Pods answered: ${log}`);
  });

  test('env from a Secret and fieldRef, a secret volume, and what a container writes stays in its overlay', async () => {
    const sec = await cp.kubectl([
      'create',
      'secret',
      'generic',
      'creds',
      '-n',
      ns,
      '--from-literal=user=alice',
      '--from-literal=key=s3cret',
    ]);
    assert.equal(sec.code, 0, sec.stderr);
    const marker = `/written-by-pod-${process.pid}`;
    const log = await runPod(
      'envpod',
      `echo "user=$USER_NAME pod=$POD_NAME ip=$POD_IP host=$(hostname)"; cat /etc/creds/key; echo; echo x > ${marker} && echo wrote`,
      `  volumes:
  - name: creds
    secret: { secretName: creds }`,
      `    env:
    - { name: USER_NAME, valueFrom: { secretKeyRef: { name: creds, key: user } } }
    - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
    - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
    volumeMounts:
    - { name: creds, mountPath: /etc/creds, readOnly: true }`,
    );
    assert.match(log, /^user=alice pod=envpod ip=10\.244\.1\.\d+ host=envpod$/m);
    assert.match(log, /^s3cret$/m);
    assert.match(log, /wrote/);
    assert.equal(existsSync(marker), false, 'the write did not reach the host');
  });

  test('a restricted securityContext: non-root uid, no capabilities, read-only root with a writable /tmp', async () => {
    const yaml = `apiVersion: v1
kind: Pod
metadata: { name: restricted }
spec:
  restartPolicy: Never
  securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: RuntimeDefault } }
  containers:
  - name: main
    image: fedora:latest
    command: ["sh", "-c", "id -u; grep CapEff /proc/self/status; touch /x 2>&1 || echo ro-root; touch /tmp/y && echo tmp-ok; echo done"]
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } }
`;
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: yaml });
    assert.equal(r.code, 0, r.stderr);
    const log = await waitFor(
      'restricted pod',
      () => {
        const l = cluster.logs(ns, 'restricted');
        return /done\n$/.test(l) ? l : undefined;
      },
      30_000,
      100,
    );
    assert.match(log, /^65532$/m);
    assert.match(log, /^CapEff:\s+0000000000000000$/m);
    assert.match(log, /ro-root/);
    assert.match(log, /tmp-ok/);
  });

  test('deleting a Pod stops it and the ReplicaSet replaces it; the Service follows', async () => {
    const [first] = await cluster.waitPodsReady(ns, 'app=nginx', 2);
    const r = await cp.kubectl([
      'delete',
      'pod',
      '-n',
      ns,
      first!.metadata!.name!,
      '--wait=true',
      '--timeout=30s',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const pods = await cluster.waitPodsReady(ns, 'app=nginx', 2);
    assert.ok(pods.every((p) => p.metadata!.name !== first!.metadata!.name));
    assert.ok(!cluster.agent.pods().includes(`${ns}/${first!.metadata!.name}`));
  });
});
