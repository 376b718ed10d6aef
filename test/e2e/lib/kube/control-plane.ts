// SPDX-License-Identifier: Apache-2.0
// A real Kubernetes control plane for a test file: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler of one pinned release (scripts/test-peers/kubernetes and etcd), on 127.0.0.1 with ephemeral
// ports, certificates made for this run (pki.ts), RBAC + Node authorization and the PodSecurity admission
// plugin. No kubelet: Pods are created by the real controllers and stay Pending. Start one per test file
// (`before`), stop it in `after`; the binaries come from the build cache, so a start takes seconds.
//
//   const skip = kubeSkipReason();
//   describe('...', { skip }, () => {
//     let cp: ControlPlane;
//     before(async () => { cp = await ControlPlane.start(); });
//     after(() => cp?.stop());
//     test('...', async () => { const ns = await cp.namespace(); ... });
//   });
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { type ExecOptions, type ExecResult, execHost, Proc, waitFor } from '../exec.js';
import { findTestPeerBin } from '../test-peers.js';
import { type CertPair, type ControlPlanePki, makeControlPlanePki } from './pki.js';

export interface KubeBinaries {
  etcd: string;
  apiserver: string;
  controllerManager: string;
  scheduler: string;
  kubectl: string;
}

/** The pinned binaries from the test-peer cache, or undefined when they have not been built. */
export function findKubeBinaries(): KubeBinaries | undefined {
  const etcd = findTestPeerBin('etcd', 'etcd');
  const apiserver = findTestPeerBin('kubernetes', 'kube-apiserver');
  const controllerManager = findTestPeerBin('kubernetes', 'kube-controller-manager');
  const scheduler = findTestPeerBin('kubernetes', 'kube-scheduler');
  const kubectl = findTestPeerBin('kubernetes', 'kubectl');
  if (!etcd || !apiserver || !controllerManager || !scheduler || !kubectl) return undefined;
  return { etcd, apiserver, controllerManager, scheduler, kubectl };
}

/**
 * For `describe(name, { skip: kubeSkipReason() })`: undefined when the control plane can start; a one-line
 * reason otherwise. In CI a missing build throws instead, since `npm test` builds the peers first.
 */
export function kubeSkipReason(): string | undefined {
  if (findKubeBinaries()) return undefined;
  const why = 'needs the Kubernetes control plane (build it: scripts/test-peers/build.sh etcd kubernetes)';
  if (process.env.CI) throw new Error(`${why}; npm test builds it before the tests`);
  return why;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

// Every process of every control plane of this test process, so that a crashed test leaves nothing running.
const running = new Set<Proc>();
process.once('exit', () => {
  for (const p of running) {
    try {
      if (p.pid !== undefined) process.kill(-p.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

function startProc(name: string, cmd: string, args: string[]): Proc {
  // detached: own process group, so Proc.stop() (and the exit hook) signal everything the binary forks.
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const p = new Proc(child, name);
  running.add(p);
  void p.wait().then(() => running.delete(p));
  return p;
}

function kubeconfigYaml(server: string, caFile: string, user: CertPair): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${server}
    certificate-authority: ${caFile}
users:
- name: user
  user:
    client-certificate: ${user.cert}
    client-key: ${user.key}
contexts:
- name: test
  context: {cluster: test, user: user}
current-context: test
`;
}

export interface ControlPlaneOptions {
  /** Also start kube-controller-manager and kube-scheduler (default true). */
  controllers?: boolean;
}

export class ControlPlane {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** kubeconfig of the cluster-admin (system:masters), for kubectl and the admin client. */
  readonly kubeconfigPath: string;
  /** The CA that signed the API server's certificate, PEM. */
  readonly caPem: string;
  /** The admin client configuration. */
  readonly kc: k8s.KubeConfig;
  /** How long start() took, in milliseconds. */
  startMs = 0;
  #apiserver: Proc | undefined;
  #others: Proc[] = [];

  private constructor(
    readonly dir: string,
    readonly bins: KubeBinaries,
    readonly pki: ControlPlanePki,
    readonly port: number,
    readonly etcdUrl: string,
    caPem: string,
  ) {
    this.server = `https://127.0.0.1:${port}`;
    this.kubeconfigPath = join(dir, 'admin.kubeconfig');
    this.caPem = caPem;
    this.kc = new k8s.KubeConfig();
  }

  /** Starts etcd, the API server (waits for /readyz) and, unless told not to, the controllers. */
  static async start(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const t0 = Date.now();
    const bins = findKubeBinaries();
    if (!bins) throw new Error(kubeSkipReason() ?? 'the Kubernetes binaries are missing');
    const dir = await mkdtemp(join(tmpdir(), 'nxkube-'));
    const pki = await makeControlPlanePki(dir);
    const [etcdClient, etcdPeer, port] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    await mkdir(join(dir, 'etcd'), { mode: 0o700 });
    const etcd = startProc('etcd', bins.etcd, [
      '--name=test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=test=${peerUrl}`,
      // A throw-away store: no fsync, which is most of etcd's latency on a loaded disk.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    const cp = new ControlPlane(dir, bins, pki, port, etcdUrl, await readFile(pki.ca.cert, 'utf8'));
    cp.#others.push(etcd);
    try {
      await waitFor(
        'etcd /health',
        async () => {
          if (etcd.exit !== undefined) throw new Error(`etcd exited: ${etcd.stderr.slice(-2000)}`);
          const r = await fetch(`${etcdUrl}/health`).catch(() => undefined);
          return r?.ok ? true : undefined;
        },
        60_000,
        100,
      );
      await writeFile(cp.kubeconfigPath, kubeconfigYaml(cp.server, pki.ca.cert, pki.admin));
      await writeFile(join(dir, 'empty.kubeconfig'), 'apiVersion: v1\nkind: Config\n');
      cp.kc.loadFromFile(cp.kubeconfigPath);
      await cp.startApiServer();
      if (opts.controllers !== false) {
        const kcmConfig = join(dir, 'controller-manager.kubeconfig');
        const schedConfig = join(dir, 'scheduler.kubeconfig');
        await writeFile(kcmConfig, kubeconfigYaml(cp.server, pki.ca.cert, pki.controllerManager));
        await writeFile(schedConfig, kubeconfigYaml(cp.server, pki.ca.cert, pki.scheduler));
        cp.#others.push(
          startProc('kube-controller-manager', bins.controllerManager, [
            `--kubeconfig=${kcmConfig}`,
            '--leader-elect=false',
            '--secure-port=0',
            // Each controller with its own ServiceAccount, as kubeadm runs it: the bootstrap RBAC roles
            // system:controller:* are written for that.
            '--use-service-account-credentials=true',
            `--service-account-private-key-file=${pki.serviceAccountKey}`,
            `--root-ca-file=${pki.ca.cert}`,
            '--v=1',
          ]),
          startProc('kube-scheduler', bins.scheduler, [
            `--kubeconfig=${schedConfig}`,
            '--leader-elect=false',
            '--secure-port=0',
            '--v=1',
          ]),
        );
      }
    } catch (err) {
      await cp.stop();
      throw err;
    }
    cp.startMs = Date.now() - t0;
    return cp;
  }

  /** Starts (or restarts, on the same port) kube-apiserver and waits until /readyz answers 200. */
  async startApiServer(): Promise<void> {
    if (this.#apiserver && this.#apiserver.exit === undefined) return;
    const { pki } = this;
    const api = startProc('kube-apiserver', this.bins.apiserver, [
      `--etcd-servers=${this.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.port}`,
      `--cert-dir=${join(this.dir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.apiserver.cert}`,
      `--tls-private-key-file=${pki.apiserver.key}`,
      `--client-ca-file=${pki.ca.cert}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction,PodSecurity',
      // The "kubernetes" Service's endpoint would be 127.0.0.1, which Endpoints validation refuses (loopback):
      // without a reconciler the API server does not retry that forever.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      '--v=1',
    ]);
    this.#apiserver = api;
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        if (api.exit !== undefined) throw new Error(`kube-apiserver exited: ${api.stderr.slice(-3000)}`);
        return (await this.#get('/readyz').catch(() => 0)) === 200 ? true : undefined;
      },
      120_000,
      200,
    );
  }

  /** Stops kube-apiserver only (etcd and the controllers keep running), i.e. to test an API outage. */
  async stopApiServer(): Promise<void> {
    await this.#apiserver?.stop(5000);
  }

  #get(path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      Promise.all([readFile(this.pki.admin.cert), readFile(this.pki.admin.key)]).then(([cert, key]) => {
        const req = request(`${this.server}${path}`, { ca: this.caPem, cert, key, timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      }, reject);
    });
  }

  /** The admin client for one API group, i.e. `cp.api(k8s.CoreV1Api)`. */
  api<T extends k8s.ApiType>(kind: new (config: k8s.Configuration) => T): T {
    return this.kc.makeApiClient(kind);
  }

  /** A client configuration that authenticates with `token` (i.e. a ServiceAccount token). */
  configForToken(token: string): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: this.server, caData: Buffer.from(this.caPem).toString('base64') }],
      users: [{ name: 'token', token }],
      contexts: [{ name: 'test', cluster: 'test', user: 'token' }],
      currentContext: 'test',
    });
    return kc;
  }

  /**
   * A fresh namespace (`t-<random>`), optionally labelled (i.e. the Pod Security Standard to enforce:
   * `{ 'pod-security.kubernetes.io/enforce': 'restricted' }`). Returns its name.
   */
  async namespace(labels: Record<string, string> = {}): Promise<string> {
    const name = `t-${randomBytes(4).toString('hex')}`;
    await this.api(k8s.CoreV1Api).createNamespace({ body: { metadata: { name, labels } } });
    return name;
  }

  /** Creates ServiceAccount `name` in `namespace` (if missing) and returns a token for it (TokenRequest). */
  async serviceAccountToken(namespace: string, name: string, expirationSeconds = 3600): Promise<string> {
    const core = this.api(k8s.CoreV1Api);
    await core
      .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
      .catch((err: unknown) => {
        if ((err as { code?: number }).code !== 409) throw err;
      });
    const tr = await core.createNamespacedServiceAccountToken({
      name,
      namespace,
      body: { spec: { audiences: [], expirationSeconds } },
    });
    const token = tr.status?.token;
    if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
    return token;
  }

  /** Runs the pinned kubectl as cluster-admin (or with `opts.token`). Throws on a non-zero exit unless check: false. */
  kubectl(args: readonly string[], opts: ExecOptions & { token?: string } = {}): Promise<ExecResult> {
    // With a token, no kubeconfig at all: its client certificate would win over the token.
    const auth = opts.token
      ? [
          `--kubeconfig=${join(this.dir, 'empty.kubeconfig')}`,
          `--server=${this.server}`,
          `--certificate-authority=${this.pki.ca.cert}`,
          `--token=${opts.token}`,
        ]
      : [`--kubeconfig=${this.kubeconfigPath}`];
    return execHost(this.bins.kubectl, [...auth, ...args], {
      timeoutMs: 60_000,
      ...opts,
    });
  }

  /** The last lines of a component's log, for a failing test's message. */
  logs(component: 'kube-apiserver' | 'etcd' | 'kube-controller-manager' | 'kube-scheduler'): string {
    const p =
      component === 'kube-apiserver' ? this.#apiserver : this.#others.find((x) => x.name === component);
    return p ? p.stderr.slice(-4000) : '';
  }

  /** Stops every component (controllers, API server, etcd) and removes the directory. */
  async stop(): Promise<void> {
    const [etcd, ...controllers] = this.#others;
    await Promise.all(controllers.map((p) => p.stop(3000)));
    await this.#apiserver?.stop(5000);
    await etcd?.stop(3000);
    await rm(this.dir, { recursive: true, force: true });
  }
}
