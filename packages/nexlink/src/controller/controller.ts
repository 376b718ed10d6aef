// SPDX-License-Identifier: Apache-2.0
// The controller: informers and the VPC view feed one rate-limited queue of keys (`export/<service>` and
// `device/<service>` per Service, `imports` for every import), one worker reconciles them. Flow:
//   1. Service events -> export/<name> and device/<name>; state Secret and StatefulSet events ->
//      export/<their service> (a replica registered: its device id is in its Secret now) and `imports` (own
//      devices changed); device proxy Pods and nexlink's EndpointSlices -> device/<their service>.
//   2. VPC changes (devices online/offline, metadata) -> `imports`, LoadBalancer exports (their status) and
//      every Service annotated with a device (it may have moved).
//   3. Every resync: all of them again, so drift is repaired.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { wantsExport } from '../export/spec.js';
import type { Cluster } from '../kube/cluster.js';
import { EventRecorder } from '../kube/events.js';
import {
  type Informers,
  makeInformers,
  makeServiceExportInformer,
  servesServiceImports,
  startWithRestarts,
} from '../kube/informers.js';
import { DEVICE_ANNOTATION, ROLE_LABEL, SERVICE_LABEL } from '../labels.js';
import type { NexlinkMetrics } from '../metrics.js';
import type { Session } from '../nexodus/session.js';
import { VpcCache } from '../nexodus/vpc-cache.js';
import { WorkQueue } from '../queue.js';
import type { ControllerContext } from './context.js';
import { DEVICE_KEY_PREFIX, DeviceReconciler } from './device-reconciler.js';
import { reconcileExport } from './export-reconciler.js';
import { IMPORTS_KEY, ImportReconciler } from './import-reconciler.js';

const EXPORT_PREFIX = 'export/';
/**
 * How long VPC changes are gathered before the imports are reconciled: a burst (a VPC's first listing, both
 * replicas of an export registering) becomes one reconcile, and a device gone offline leaves the targets
 * (the ConfigMap, which nexd applies live) well within the 5 s.
 */
export const IMPORT_SETTLE_MS = 100;

export class Controller {
  readonly queue = new WorkQueue({ baseMs: 200, maxMs: 30_000 });
  readonly ctx: ControllerContext;
  readonly #imports: ImportReconciler;
  readonly #devices: DeviceReconciler;
  readonly #informers: Informers;
  #stopped = false;
  #resync: NodeJS.Timeout | undefined;
  #worker: Promise<void> | undefined;
  #informersSynced = false;

  constructor(opts: {
    config: Config;
    cluster: Cluster;
    session: Session;
    metrics: NexlinkMetrics;
    log: Logger;
  }) {
    const { config, cluster, session, metrics, log } = opts;
    this.#informers = makeInformers(cluster.kc, cluster.core, cluster.apps, config.namespace);
    const vpc = new VpcCache({
      open: (watches, signal) => session.client.watchEvents(session.vpcId, watches, { signal }),
      onChange: () => this.#vpcChanged(),
      onReconnect: (attempt, delayMs, cause) => {
        metrics.watchReconnects.inc({ source: 'nexodus' });
        log.warn(
          { attempt, delayMs, err: String((cause as Error)?.message ?? cause) },
          'watch stream reconnect',
        );
      },
    });
    this.ctx = {
      config,
      cluster,
      informers: this.#informers,
      events: new EventRecorder(cluster),
      session,
      vpc,
      metrics,
      log,
      settings: {
        image: config.proxyImage,
        serviceUrl: config.serviceUrl,
        credentials: config.proxyCredentials,
        logLevel: config.logLevel === 'debug' || config.logLevel === 'trace' ? 'debug' : 'info',
        vpcId: session.vpcId,
        ...(config.caSecret ? { caSecret: config.caSecret } : {}),
        ...(config.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
      },
    };
    this.#imports = new ImportReconciler(this.ctx);
    this.#devices = new DeviceReconciler(this.ctx);
  }

  /** What keeps /readyz at 503. */
  pending(): string[] {
    const p: string[] = [];
    if (!this.#informersSynced) p.push('informers');
    if (!this.ctx.vpc.synced) p.push('vpc-watch');
    return p;
  }

  async start(): Promise<void> {
    const { services, secrets, statefulSets, devicePods, endpointSlices } = this.#informers;
    const onService = (o: KubernetesObject) => this.queue.add(EXPORT_PREFIX + o.metadata!.name!);
    const onDeviceService = (o: KubernetesObject) => this.queue.add(DEVICE_KEY_PREFIX + o.metadata!.name!);
    const onOwned = (o: KubernetesObject) => {
      const l = o.metadata?.labels ?? {};
      if (l[ROLE_LABEL] === 'export' && l[SERVICE_LABEL]) this.queue.add(EXPORT_PREFIX + l[SERVICE_LABEL]);
      if (l[ROLE_LABEL] === 'device' && l[SERVICE_LABEL])
        this.queue.add(DEVICE_KEY_PREFIX + l[SERVICE_LABEL]);
      this.queue.add(IMPORTS_KEY);
    };
    // A proxy Pod's readiness and address, or a slice edited or deleted by hand: that Service's slice.
    const onDeviceOwned = (o: KubernetesObject) => {
      const service = o.metadata?.labels?.[SERVICE_LABEL];
      if (service) this.queue.add(DEVICE_KEY_PREFIX + service);
    };
    for (const verb of ['add', 'update', 'delete'] as const) {
      services.on(verb, onService);
      services.on(verb, onDeviceService);
      secrets.on(verb, onOwned);
      statefulSets.on(verb, onOwned);
      devicePods.on(verb, onDeviceOwned);
      endpointSlices.on(verb, onDeviceOwned);
    }
    const stopped = () => this.#stopped;
    const exportsInformer = await makeServiceExportInformer(
      this.ctx.cluster.kc,
      this.ctx.config.namespace,
    ).catch((err: unknown) => {
      this.ctx.log.warn(
        { err: String((err as Error)?.message ?? err) },
        'cannot list ServiceExports: labels only',
      );
      return undefined;
    });
    if (exportsInformer) {
      this.#informers.serviceExports = exportsInformer;
      for (const verb of ['add', 'update', 'delete'] as const) exportsInformer.on(verb, onService);
    } else {
      this.ctx.log.info('the ServiceExport CRD is not installed (deploy/crds): exports by label only');
    }
    this.ctx.serviceImports = await servesServiceImports(
      this.ctx.cluster.kc,
      this.ctx.config.namespace,
    ).catch((err: unknown) => {
      this.ctx.log.warn(
        { err: String((err as Error)?.message ?? err) },
        'cannot list ServiceImports: none written',
      );
      return false;
    });
    if (!this.ctx.serviceImports)
      this.ctx.log.info('the ServiceImport CRD is not installed (deploy/crds): imports get a Service only');
    const restarted = (kind: string) => (err: unknown, retryInMs: number) => {
      this.ctx.metrics.watchReconnects.inc({ source: kind });
      this.ctx.log.warn({ kind, retryInMs, err: String((err as Error)?.message ?? err) }, 'informer restart');
    };
    await Promise.all([
      startWithRestarts(services, restarted('services'), stopped),
      startWithRestarts(secrets, restarted('secrets'), stopped),
      startWithRestarts(statefulSets, restarted('statefulsets'), stopped),
      startWithRestarts(devicePods, restarted('pods'), stopped),
      startWithRestarts(endpointSlices, restarted('endpointslices'), stopped),
      ...(exportsInformer ? [startWithRestarts(exportsInformer, restarted('serviceexports'), stopped)] : []),
    ]);
    this.#informersSynced = true;
    this.ctx.vpc.start();
    this.#worker = this.queue.run(
      (key) => this.#reconcile(key),
      (key, err, retryInMs) =>
        this.ctx.log.warn(
          { key, retryInMs, err: String((err as Error)?.message ?? err) },
          'reconcile failed',
        ),
    );
    this.#resync = setInterval(() => this.#resyncAll(), this.ctx.config.resyncMs);
    this.#resync.unref();
    this.#resyncAll();
  }

  #resyncAll(): void {
    this.#imports.forget();
    this.#devices.forget();
    for (const s of this.#informers.services.list(this.ctx.config.namespace)) {
      this.queue.add(EXPORT_PREFIX + s.metadata!.name!);
      this.queue.add(DEVICE_KEY_PREFIX + s.metadata!.name!);
    }
    this.queue.add(IMPORTS_KEY);
  }

  #vpcChanged(): void {
    this.queue.addAfter(IMPORTS_KEY, IMPORT_SETTLE_MS);
    // A LoadBalancer's status lists its devices' VPC addresses: follow them as devices change.
    for (const s of this.#informers.services.list(this.ctx.config.namespace)) {
      if (s.spec?.type === 'LoadBalancer' && wantsExport(s))
        this.queue.add(EXPORT_PREFIX + s.metadata!.name!);
      // A device re-registered with a new address (or went offline): its egress rules follow at once.
      if (s.metadata?.annotations?.[DEVICE_ANNOTATION] !== undefined)
        this.queue.add(DEVICE_KEY_PREFIX + s.metadata!.name!);
    }
  }

  async #reconcile(key: string) {
    const kind = key === IMPORTS_KEY ? 'imports' : key.startsWith(DEVICE_KEY_PREFIX) ? 'device' : 'export';
    try {
      const r =
        kind === 'imports'
          ? await this.#imports.reconcile()
          : kind === 'device'
            ? await this.#devices.reconcile(key.slice(DEVICE_KEY_PREFIX.length))
            : await reconcileExport(this.ctx, key.slice(EXPORT_PREFIX.length));
      this.ctx.metrics.reconciles.inc({ kind, result: 'ok' });
      return r;
    } catch (err) {
      this.ctx.metrics.reconciles.inc({ kind, result: 'error' });
      throw err;
    } finally {
      const roles = this.#informers.statefulSets
        .list(this.ctx.config.namespace)
        .map((s) => s.metadata?.labels?.[ROLE_LABEL]);
      this.ctx.metrics.exports.set(roles.filter((r) => r === 'export').length);
      this.ctx.metrics.deviceProxies.set(roles.filter((r) => r === 'device').length);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#resync);
    this.queue.stop();
    await this.ctx.vpc.stop();
    for (const inf of Object.values(this.#informers)) await inf.stop().catch(() => {});
    await this.#worker;
  }
}
