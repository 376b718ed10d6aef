// SPDX-License-Identifier: Apache-2.0
// The tests' kubelet: registers a Node with the real API server, keeps its Lease and Ready condition fresh,
// and runs the Pods the real scheduler binds to it: a network namespace per Pod (pod-network.ts), volumes
// (volumes.ts), init containers one after another, then the containers as processes (container.ts),
// restarted per restartPolicy, readiness probes, and the Pod's status (IP, phase, conditions, container
// states) written back, so the real controllers (ReplicaSet, EndpointSlice) act on it as on a kubelet's.
// A Pod whose deletion began is stopped (SIGTERM, then SIGKILL after its grace period, at most 5 s here)
// and then deleted for good, as the kubelet's final delete does.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1ContainerStatus,
  type V1Pod,
  type V1PodCondition,
  type V1Probe,
  Watch,
} from '@kubernetes/client-node';
import { exec, type Proc } from '../exec.js';
import { restartOnError } from '../kube/restart-on-error.js';
import type { Lab } from '../netns.js';
import { type Mount, startContainer } from './container.js';
import { lookupImage } from './images.js';
import type { PodNetwork, PodSandbox } from './pod-network.js';
import { containerArgv, containerEnv, type KeyLookup, PodSpecError } from './pod-spec.js';
import { prepareVolume } from './volumes.js';

const LEASE_DURATION_S = 40;
const HEARTBEAT_MS = 10_000;
const MAX_GRACE_MS = 5_000;
/** Restart backoff: the kubelet's 10 s doubling to 5 min would make tests slow; 0.5 s doubling to 5 s. */
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 5_000;
const STATUS_DEBOUNCE_MS = 50;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface NodeAgentOptions {
  lab: Lab;
  kubeconfig: KubeConfig;
  nodeName: string;
  network: PodNetwork;
  /** The cluster DNS server Pods get in resolv.conf, i.e. `169.254.20.10`. */
  dnsServer: string;
  clusterDomain?: string;
  /** The `kubernetes` Service's ClusterIP and port, for KUBERNETES_SERVICE_HOST/PORT. */
  kubernetesService: { host: string; port: number };
}

const key = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;
const now = () => new Date();

type ContainerPhase =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: Date }
  | { kind: 'terminated'; exitCode: number; reason: string; startedAt: Date; finishedAt: Date };

interface ContainerSlot {
  spec: V1Container;
  init: boolean;
  phase: ContainerPhase;
  ready: boolean;
  restarts: number;
  proc?: Proc;
  /** Output of every run so far (bounded), for `logs()`. */
  log: string;
}

type PodState = 'starting' | 'running' | 'terminating' | 'gone';

/** One Pod on this node, from sandbox to teardown. `state` changes only in setState(). */
class PodWorker {
  state: PodState = 'starting';
  pod: V1Pod;
  sandbox?: PodSandbox;
  readonly slots = new Map<string, ContainerSlot>();
  #failed: { reason: string; message: string } | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #timers = new Set<NodeJS.Timeout>();
  readonly #startedAt = now();

  constructor(
    private readonly agent: NodeAgent,
    pod: V1Pod,
  ) {
    this.pod = pod;
    for (const c of pod.spec?.initContainers ?? []) this.#slot(c, true);
    for (const c of pod.spec?.containers ?? []) this.#slot(c, false);
  }

  #slot(spec: V1Container, init: boolean): void {
    this.slots.set(spec.name, {
      spec,
      init,
      phase: { kind: 'waiting', reason: 'PodInitializing' },
      ready: false,
      restarts: 0,
      log: '',
    });
  }

  #setState(next: PodState): void {
    if (this.state === 'gone') return;
    this.state = next;
    this.scheduleStatus();
  }

  #after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  async start(): Promise<void> {
    const { lab, network, opts } = this.agent;
    const meta = this.pod.metadata!;
    try {
      this.sandbox = await network.create();
      const dir = lab.tempDir(`pod-${meta.name!.slice(0, 40)}`);
      const volumes = new Map<string, string>();
      for (const v of this.pod.spec?.volumes ?? []) {
        volumes.set(
          v.name,
          await prepareVolume({ core: this.agent.core, pod: this.pod, dir: join(dir, 'volumes') }, v),
        );
      }
      const domain = opts.clusterDomain ?? 'cluster.local';
      const resolv = join(dir, 'resolv.conf');
      writeFileSync(
        resolv,
        `nameserver ${opts.dnsServer}\nsearch ${meta.namespace}.svc.${domain} svc.${domain} ${domain}\noptions ndots:5\n`,
      );
      const hosts = join(dir, 'hosts');
      writeFileSync(hosts, `127.0.0.1\tlocalhost\n::1\tlocalhost\n${this.sandbox.ip}\t${meta.name}\n`);
      const lookup = await this.#lookups();
      this.scheduleStatus();
      const runOne = (slot: ContainerSlot) => this.#run(slot, dir, volumes, [resolv, hosts], lookup);
      for (const slot of [...this.slots.values()].filter((s) => s.init)) {
        const ok = await this.#runToCompletion(slot, runOne);
        if (!ok) return;
      }
      if (this.state !== 'starting') return;
      this.#setState('running');
      for (const slot of [...this.slots.values()].filter((s) => !s.init)) runOne(slot);
    } catch (err) {
      this.#failed = {
        reason: err instanceof PodSpecError ? err.reason : 'CreatePodSandboxError',
        message: (err as Error).message,
      };
      for (const s of this.slots.values())
        s.phase = { kind: 'waiting', reason: this.#failed.reason, message: this.#failed.message };
      this.scheduleStatus();
    }
  }

  /** Reads every Secret/ConfigMap key that `env` names, so env resolution is a pure lookup. */
  async #lookups(): Promise<KeyLookup> {
    const ns = this.pod.metadata!.namespace!;
    const values = new Map<string, string>();
    for (const s of this.slots.values()) {
      for (const e of s.spec.env ?? []) {
        const sk = e.valueFrom?.secretKeyRef;
        const ck = e.valueFrom?.configMapKeyRef;
        if (sk?.name) {
          const sec = await this.agent.core
            .readNamespacedSecret({ name: sk.name, namespace: ns })
            .catch(() => undefined);
          const v = sec?.data?.[sk.key];
          if (v !== undefined)
            values.set(`Secret/${sk.name}/${sk.key}`, Buffer.from(v, 'base64').toString('utf8'));
        }
        if (ck?.name) {
          const cm = await this.agent.core
            .readNamespacedConfigMap({ name: ck.name, namespace: ns })
            .catch(() => undefined);
          const v = cm?.data?.[ck.key];
          if (v !== undefined) values.set(`ConfigMap/${ck.name}/${ck.key}`, v);
        }
      }
    }
    return (kind, name, k) => values.get(`${kind}/${name}/${k}`);
  }

  /** Runs an init container until it exits 0 (retrying as restartPolicy allows); false if the Pod failed or ends. */
  async #runToCompletion(slot: ContainerSlot, run: (s: ContainerSlot) => Proc | undefined): Promise<boolean> {
    let backoff = BACKOFF_START_MS;
    for (;;) {
      if (this.state !== 'starting') return false;
      const proc = run(slot);
      if (!proc) return false;
      const code = await proc.wait();
      if (code === 0) return true;
      if (this.pod.spec?.restartPolicy === 'Never') {
        this.#failed = {
          reason: 'Init:Error',
          message: `init container ${slot.spec.name} exited with ${code}`,
        };
        this.scheduleStatus();
        return false;
      }
      slot.restarts++;
      await new Promise((r) => this.#after(backoff, () => r(undefined)));
      backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
    }
  }

  #run(
    slot: ContainerSlot,
    dir: string,
    volumes: Map<string, string>,
    [resolv, hosts]: string[],
    lookup: KeyLookup,
  ): Proc | undefined {
    const { spec } = slot;
    const image = lookupImage(spec.image ?? '');
    const meta = this.pod.metadata!;
    try {
      if (!image)
        throw new PodSpecError(
          'ErrImagePull',
          `image ${spec.image} is not in the test node's image table (images.ts)`,
        );
      const k = this.agent.opts.kubernetesService;
      const env = containerEnv(spec, {
        pod: this.pod,
        podIp: this.sandbox!.ip,
        nodeName: this.agent.opts.nodeName,
        lookup,
        base: {
          PATH: DEFAULT_PATH,
          HOME: '/root',
          HOSTNAME: meta.name!,
          KUBERNETES_SERVICE_HOST: k.host,
          KUBERNETES_SERVICE_PORT: String(k.port),
          KUBERNETES_SERVICE_PORT_HTTPS: String(k.port),
        },
      });
      const mounts: Mount[] = [
        { source: resolv!, target: '/etc/resolv.conf', readOnly: false },
        { source: hosts!, target: '/etc/hosts', readOnly: false },
      ];
      for (const vm of spec.volumeMounts ?? []) {
        const source = volumes.get(vm.name);
        if (!source)
          throw new PodSpecError('CreateContainerConfigError', `volumeMount ${vm.name}: no such volume`);
        mounts.push({
          source: vm.subPath ? join(source, vm.subPath) : source,
          target: vm.mountPath,
          readOnly: vm.readOnly === true,
        });
      }
      const argv = containerArgv(spec, image.defaultCommand, env);
      const proc = startContainer(this.agent.lab, {
        ns: this.sandbox!.ns,
        hostname: meta.name!,
        dir: join(dir, 'containers', `${spec.name}-${slot.restarts}`),
        image,
        container: spec,
        podSecurity: this.pod.spec?.securityContext,
        argv,
        env,
        mounts,
      });
      const startedAt = now();
      slot.proc = proc;
      slot.phase = { kind: 'running', startedAt };
      slot.ready = !slot.init && !spec.readinessProbe;
      this.scheduleStatus();
      if (!slot.init && spec.readinessProbe) this.#probeLoop(slot, proc, spec.readinessProbe);
      void proc
        .wait()
        .then((code) => this.#exited(slot, proc, code, startedAt, dir, volumes, [resolv!, hosts!], lookup));
      return proc;
    } catch (err) {
      const reason = err instanceof PodSpecError ? err.reason : 'CreateContainerError';
      slot.phase = { kind: 'waiting', reason, message: (err as Error).message };
      this.scheduleStatus();
      return undefined;
    }
  }

  #exited(
    slot: ContainerSlot,
    proc: Proc,
    code: number,
    startedAt: Date,
    dir: string,
    volumes: Map<string, string>,
    files: string[],
    lookup: KeyLookup,
  ): void {
    slot.log = (slot.log + proc.stdout + proc.stderr).slice(-256 * 1024);
    slot.ready = false;
    slot.phase = {
      kind: 'terminated',
      exitCode: code,
      reason: code === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt: now(),
    };
    this.scheduleStatus();
    if (slot.init || this.state !== 'running') return;
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    if (policy === 'Never' || (policy === 'OnFailure' && code === 0)) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** Math.min(slot.restarts, 4));
    slot.phase = {
      kind: 'waiting',
      reason: 'CrashLoopBackOff',
      message: `back-off ${delay} ms restarting failed container`,
    };
    this.#after(delay, () => {
      if (this.state !== 'running') return;
      slot.restarts++;
      this.#run(slot, dir, volumes, files, lookup);
    });
  }

  #probeLoop(slot: ContainerSlot, proc: Proc, probe: V1Probe): void {
    let failures = 0;
    let successes = 0;
    const period = (probe.periodSeconds ?? 10) * 1000;
    const tick = async () => {
      if (
        this.state === 'gone' ||
        this.state === 'terminating' ||
        slot.proc !== proc ||
        proc.exit !== undefined
      )
        return;
      const ok = await this.#probe(slot.spec, probe).catch(() => false);
      if (ok) {
        failures = 0;
        if (++successes >= (probe.successThreshold ?? 1) && !slot.ready) {
          slot.ready = true;
          this.scheduleStatus();
        }
      } else {
        successes = 0;
        if (++failures >= (probe.failureThreshold ?? 3) && slot.ready) {
          slot.ready = false;
          this.scheduleStatus();
        }
      }
      // Until first ready, probe every 0.5 s: a kubelet waits periodSeconds, tests should not.
      this.#after(slot.ready ? period : Math.min(period, 500), () => void tick());
    };
    this.#after((probe.initialDelaySeconds ?? 0) * 1000, () => void tick());
  }

  /** One probe from the node namespace: HTTP GET or TCP connect to the Pod IP; exec probes count as passing. */
  async #probe(spec: V1Container, probe: V1Probe): Promise<boolean> {
    const portOf = (p: number | string | undefined) =>
      typeof p === 'number' ? p : Number(spec.ports?.find((x) => x.name === p)?.containerPort ?? p);
    const ip = this.sandbox!.ip;
    const timeout = String(probe.timeoutSeconds ?? 1);
    if (probe.httpGet) {
      const url = `http://${ip}:${portOf(probe.httpGet.port)}${probe.httpGet.path ?? '/'}`;
      const r = await exec(
        this.agent.network.nodeNs,
        'curl',
        ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', timeout, url],
        { check: false },
      );
      const status = Number(r.stdout);
      return status >= 200 && status < 400;
    }
    if (probe.tcpSocket) {
      const r = await exec(
        this.agent.network.nodeNs,
        'timeout',
        [timeout, 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${portOf(probe.tcpSocket.port)}`],
        { check: false },
      );
      return r.code === 0;
    }
    return true;
  }

  /** Call when the Pod's deletion began (or it vanished): stop containers, free the sandbox, final delete. */
  async terminate(finalDelete: boolean): Promise<void> {
    if (this.state === 'terminating' || this.state === 'gone') return;
    this.#setState('terminating');
    const grace = Math.min(MAX_GRACE_MS, (this.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
    await Promise.all([...this.slots.values()].map((s) => s.proc?.stop(grace)));
    for (const s of this.slots.values())
      if (s.proc) s.log = (s.log + s.proc.stdout + s.proc.stderr).slice(-256 * 1024);
    for (const t of this.#timers) clearTimeout(t);
    clearTimeout(this.#statusTimer);
    if (this.sandbox) await this.agent.network.destroy(this.sandbox);
    this.state = 'gone';
    if (finalDelete) {
      const meta = this.pod.metadata!;
      await this.agent.core
        .deleteNamespacedPod({
          name: meta.name!,
          namespace: meta.namespace!,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid: meta.uid } },
        })
        .catch(() => {});
    }
  }

  scheduleStatus(): void {
    if (this.state === 'gone' || this.#statusTimer) return;
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      void this.#pushStatus();
    }, STATUS_DEBOUNCE_MS);
  }

  #containerStatus(s: ContainerSlot): V1ContainerStatus {
    const p = s.phase;
    const state =
      p.kind === 'running'
        ? { running: { startedAt: p.startedAt } }
        : p.kind === 'terminated'
          ? {
              terminated: {
                exitCode: p.exitCode,
                reason: p.reason,
                startedAt: p.startedAt,
                finishedAt: p.finishedAt,
              },
            }
          : { waiting: { reason: p.reason, ...(p.message ? { message: p.message } : {}) } };
    return {
      name: s.spec.name,
      image: s.spec.image ?? '',
      imageID: `test-node://${s.spec.image}`,
      containerID: `test-node://${this.pod.metadata?.uid}/${s.spec.name}/${s.restarts}`,
      ready: s.ready,
      started: p.kind === 'running',
      restartCount: s.restarts,
      state,
    };
  }

  async #pushStatus(): Promise<void> {
    const slots = [...this.slots.values()];
    const inits = slots.filter((s) => s.init);
    const mains = slots.filter((s) => !s.init);
    const initialized = inits.every((s) => s.phase.kind === 'terminated' && s.phase.exitCode === 0);
    const ready = this.state === 'running' && mains.every((s) => s.ready);
    const allDone = mains.every((s) => s.phase.kind === 'terminated');
    const phase =
      this.#failed?.reason === 'Init:Error'
        ? 'Failed'
        : this.state === 'running' && allDone && this.pod.spec?.restartPolicy !== 'Always'
          ? mains.every((s) => s.phase.kind === 'terminated' && s.phase.exitCode === 0)
            ? 'Succeeded'
            : 'Failed'
          : this.state === 'running'
            ? 'Running'
            : 'Pending';
    const t = now();
    const cond = (type: string, ok: boolean, reason?: string): V1PodCondition => ({
      type,
      status: ok ? 'True' : 'False',
      lastTransitionTime: t,
      ...(ok || !reason ? {} : { reason }),
    });
    const ip = this.sandbox?.ip;
    const status = {
      phase,
      ...(this.#failed ? { message: this.#failed.message, reason: this.#failed.reason } : {}),
      hostIP: this.agent.network.gateway,
      hostIPs: [{ ip: this.agent.network.gateway }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: this.#startedAt,
      conditions: [
        cond('PodReadyToStartContainers', ip !== undefined),
        cond('Initialized', initialized, 'ContainersNotInitialized'),
        cond('ContainersReady', ready, 'ContainersNotReady'),
        cond('Ready', ready, 'ContainersNotReady'),
      ],
      initContainerStatuses: inits.map((s) => this.#containerStatus(s)),
      containerStatuses: mains.map((s) => this.#containerStatus(s)),
    };
    const meta = this.pod.metadata!;
    await this.agent.core
      .patchNamespacedPodStatus(
        { name: meta.name!, namespace: meta.namespace!, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      )
      .catch(() => {
        // The Pod may be gone already; a later change pushes again.
      });
  }
}

export class NodeAgent {
  readonly core: CoreV1Api;
  readonly #lease: CoordinationV1Api;
  readonly #workers = new Map<string, PodWorker>();
  #informer: ListWatch<V1Pod> | undefined;
  #stopped = false;
  /** Workers being stopped (their Pod deleted or replaced), so that stop() waits for them too. */
  readonly #retiring = new Set<PodWorker>();
  #heartbeat: NodeJS.Timeout | undefined;

  private constructor(readonly opts: NodeAgentOptions) {
    this.core = opts.kubeconfig.makeApiClient(CoreV1Api);
    this.#lease = opts.kubeconfig.makeApiClient(CoordinationV1Api);
  }

  get lab(): Lab {
    return this.opts.lab;
  }
  get network(): PodNetwork {
    return this.opts.network;
  }

  /** Registers the Node, starts its heartbeat and begins running the Pods bound to it. */
  static async start(opts: NodeAgentOptions): Promise<NodeAgent> {
    const a = new NodeAgent(opts);
    await opts.network.init();
    await a.#register();
    await a.#beat();
    a.#heartbeat = setInterval(() => void a.#beat().catch(() => {}), HEARTBEAT_MS);
    const fieldSelector = `spec.nodeName=${opts.nodeName}`;
    const informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(opts.kubeconfig),
      () => a.core.listPodForAllNamespaces({ fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    informer.on('add', (p) => a.#sync(p));
    informer.on('update', (p) => a.#sync(p));
    informer.on('delete', (p) => {
      const w = a.#workers.get(key(p));
      if (w && w.pod.metadata?.uid === p.metadata?.uid) void a.#retire(key(p), w, false);
    });
    // The informer restarts its watch by itself after errors (and relists after 410 Gone).
    restartOnError(informer, () => a.#stopped);
    await informer.start();
    a.#informer = informer;
    return a;
  }

  #sync(pod: V1Pod): void {
    const k = key(pod);
    let w = this.#workers.get(k);
    if (w && w.pod.metadata?.uid !== pod.metadata?.uid) {
      // Same name, new object (a StatefulSet Pod recreated): the old one is finished.
      void this.#retire(k, w, false);
      w = undefined;
    }
    if (!w) {
      if (pod.metadata?.deletionTimestamp) {
        void this.core
          .deleteNamespacedPod({
            name: pod.metadata.name!,
            namespace: pod.metadata.namespace!,
            gracePeriodSeconds: 0,
          })
          .catch(() => {});
        return;
      }
      w = new PodWorker(this, pod);
      this.#workers.set(k, w);
      void w.start();
      return;
    }
    w.pod = pod;
    if (pod.metadata?.deletionTimestamp) void this.#retire(k, w, true);
  }

  /**
   * Stops worker `w` of Pod `k`; forgets it only if it is still the one under `k`. A StatefulSet Pod comes
   * back under the same name while its predecessor is still stopping: deleting by name alone dropped the
   * successor's worker, which then ran unseen (a second worker for the Pod, never stopped at the end).
   */
  #retire(k: string, w: PodWorker, graceful: boolean): Promise<void> {
    if (this.#workers.get(k) === w) this.#workers.delete(k);
    this.#retiring.add(w);
    return w.terminate(graceful).finally(() => this.#retiring.delete(w));
  }

  async #register(): Promise<void> {
    const { nodeName, network } = this.opts;
    await this.core
      .createNode({
        body: {
          metadata: {
            name: nodeName,
            labels: {
              'kubernetes.io/hostname': nodeName,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64',
            },
          },
          spec: { podCIDR: network.cidr, podCIDRs: [network.cidr] },
        },
      })
      .catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
  }

  /** Renews the node Lease and the Ready condition (what the node lifecycle controller watches). */
  async #beat(): Promise<void> {
    const { nodeName, network } = this.opts;
    const t = new Date();
    const ns = 'kube-node-lease';
    // renewTime is a MicroTime: the API server wants 6 fractional digits and the client's Date has 3, so it
    // goes as a string in a merge patch (a patch body is passed through as it is).
    const micro = t.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await this.#lease
      .createNamespacedLease({
        namespace: ns,
        body: {
          metadata: { name: nodeName },
          spec: { holderIdentity: nodeName, leaseDurationSeconds: LEASE_DURATION_S },
        },
      })
      .catch((err: { code?: number }) => {
        if (err.code !== 409) throw err;
      });
    await this.#lease.patchNamespacedLease(
      { name: nodeName, namespace: ns, body: { spec: { renewTime: micro } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const cond = (type: string, status: string, reason: string) => ({
      type,
      status,
      reason,
      lastHeartbeatTime: t,
      lastTransitionTime: t,
    });
    const resources = { cpu: '8', memory: '16Gi', pods: '110', 'ephemeral-storage': '50Gi' };
    await this.core.patchNodeStatus(
      {
        name: nodeName,
        body: {
          status: {
            conditions: [
              cond('Ready', 'True', 'KubeletReady'),
              cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
              cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
              cond('PIDPressure', 'False', 'KubeletHasSufficientPID'),
            ],
            addresses: [
              { type: 'InternalIP', address: network.gateway },
              { type: 'Hostname', address: nodeName },
            ],
            capacity: resources,
            allocatable: resources,
            nodeInfo: {
              architecture: 'amd64',
              operatingSystem: 'linux',
              osImage: 'nexodus-ts test node',
              kernelVersion: '',
              kubeletVersion: 'v0.0.0-test-node',
              kubeProxyVersion: '',
              containerRuntimeVersion: 'test-node://processes',
              machineID: nodeName,
              systemUUID: nodeName,
              bootID: nodeName,
            },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  }

  /** What a container printed (stdout and stderr, every run, bounded), as `kubectl logs` would show. */
  logs(namespace: string, pod: string, container?: string): string {
    const w = this.#workers.get(`${namespace}/${pod}`);
    if (!w) return '';
    const slot = container ? w.slots.get(container) : [...w.slots.values()].find((s) => !s.init);
    if (!slot) return '';
    return slot.log + (slot.proc && slot.proc.exit === undefined ? slot.proc.stdout + slot.proc.stderr : '');
  }

  /** The Pods this node runs now, by `namespace/name`. */
  pods(): string[] {
    return [...this.#workers.keys()];
  }

  /** Stops the heartbeat, the informer and every Pod (no API writes: the cluster is going away too). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#heartbeat);
    await this.#informer?.stop();
    await Promise.all([...this.#workers.values(), ...this.#retiring].map((w) => w.terminate(false)));
    this.#workers.clear();
  }
}
