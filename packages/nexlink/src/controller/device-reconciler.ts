// SPDX-License-Identifier: Apache-2.0
// DeviceReconciler.reconcile(service): level-triggered, one key per Service (`device/<name>`). A Service
// annotated `nexlink.nexodus.io/device` converges on:
//   1. the device it names, looked up in the VPC view (hostname or VPC address; see findDevice);
//   2. a `nexd proxy` workload (role `device`) with one egress rule per Service port to its IPv4 address,
//      applied again only when the address, the ports or the replicas change (a re-registered device moves);
//   3. the Service's EndpointSlice, listing the proxy Pods on their listen ports as their readiness changes;
//   4. its DeviceReachable condition, and a Warning Event for what cannot be done.
// A device that is not (or no longer) in the VPC gets no proxy; one that had a proxy keeps it, without a
// rule, until a device of that name is back (a device deleted and registered again keeps its Service's Pods).
// Without the annotation (removed, Service deleted, now invalid) the workload and the slice go; both are
// owned by the Service, so a deleted Service loses them to the garbage collector too. Nothing else of the
// Service is touched: it keeps its ClusterIP, DNS name and ports, which the user wrote.
import type { V1EndpointSlice, V1OwnerReference, V1Service } from '@kubernetes/client-node';
import {
  type DeviceSpec,
  deviceEgressRules,
  deviceObjects,
  deviceSlice,
  deviceVerdict,
  deviceWorkloadName,
  egressAddress,
  findDevice,
  proxyEndpoints,
} from '../device/desired.js';
import { serviceOwner } from '../export/desired.js';
import { apply, remove } from '../kube/cluster.js';
import { serviceRef } from '../kube/events.js';
import { INSTANCE_LABEL, ROLE_LABEL, SERVICE_LABEL } from '../labels.js';
import { applyWorkload, removeWorkload } from '../proxy/workload.js';
import type { ReconcileResult } from '../queue.js';
import type { ControllerContext } from './context.js';
import { type ConditionWant, DEVICE_CONDITION, writeDeviceStatus } from './status.js';

export const DEVICE_KEY_PREFIX = 'device/';
const WAIT_FOR_VPC_MS = 500;

/** What a slice says, for comparing the cached one with the desired one (the API server adds defaults). */
function sliceSays(s: V1EndpointSlice | undefined): string {
  return JSON.stringify([
    s?.metadata?.ownerReferences?.map((o) => o.uid),
    s?.endpoints?.map((e) => [
      e.addresses,
      e.conditions?.ready,
      e.conditions?.serving,
      e.conditions?.terminating,
    ]),
    s?.ports?.map((p) => [p.name ?? '', p.port, p.protocol]),
  ]);
}

export class DeviceReconciler {
  /** service -> what was last applied (the address and JSON of the workload's inputs); cleared by forget(). */
  readonly #applied = new Map<string, { address: string; text: string }>();

  constructor(readonly ctx: ControllerContext) {}

  /**
   * The next reconcile applies everything again (resync: repairs objects edited or deleted by hand); the
   * addresses are kept, so that a move is still told as one.
   */
  forget(): void {
    for (const a of this.#applied.values()) a.text = '';
  }

  async reconcile(service: string): Promise<ReconcileResult> {
    const { ctx } = this;
    const ns = ctx.config.namespace;
    const svc = ctx.informers.services.get(service, ns);
    const verdict = svc ? deviceVerdict(svc) : ({ kind: 'none' } as const);
    if (verdict.kind !== 'device') {
      await this.#cleanup(service);
      if (svc && verdict.kind === 'invalid') {
        await this.#refuse(svc, verdict.reason, verdict.message);
      } else if (svc && !svc.metadata?.deletionTimestamp) {
        await writeDeviceStatus(ctx, svc, undefined);
      }
      return undefined;
    }
    // Without the listing, "unknown device" would remove a working proxy at every restart of nexlink.
    if (!ctx.vpc.synced) return { requeueAfterMs: WAIT_FOR_VPC_MS };
    const s = svc!;
    const { spec } = verdict;
    const named = spec.target.kind === 'hostname' ? spec.target.hostname : spec.target.address;
    const device = findDevice(ctx.vpc.devices.values(), spec.target);
    const address = device && egressAddress(device);
    if (!device || !address) {
      const message = device
        ? `device ${named} (${device.id}) has no IPv4 VPC address: nexd proxies to IPv4 addresses only`
        : `no device ${spec.target.kind === 'hostname' ? 'with hostname' : 'with VPC address'} ${named} in the VPC: check the ${spec.target.kind} (nexctl device list) or start the device`;
      // No proxy is made for a device that is not there; one made already stays, without a rule, so that a
      // device deleted and registered again (a new key) is reached at once, by the same Pods. The VPC watch
      // requeues this key when devices change.
      if (ctx.informers.statefulSets.get(deviceWorkloadName(service), ns)) {
        await this.#applyWorkload(s, spec, undefined);
        await this.#writeSlice(spec, serviceOwner(s));
      } else {
        await this.#cleanup(service);
      }
      await this.#refuse(s, 'UnknownDevice', message);
      return undefined;
    }
    await this.#applyWorkload(s, spec, address);
    const ready = await this.#writeSlice(spec, serviceOwner(s));
    let status: ConditionWant;
    if (!device.online) {
      status = {
        status: 'False',
        reason: 'DeviceOffline',
        message: `device ${named} (${address}) is offline: its proxies keep its last address`,
      };
    } else if (!ready) {
      status = {
        status: 'False',
        reason: 'WaitingForProxies',
        message: `waiting for the proxies to ${named} (${address}) to be ready`,
      };
    } else {
      status = {
        status: 'True',
        reason: 'Reachable',
        message: `${named} at ${address} through ${ready} ${ready === 1 ? 'proxy' : 'proxies'}`,
      };
    }
    await writeDeviceStatus(ctx, s, status);
    return undefined;
  }

  /**
   * Applies the workload (no egress rule when `address` is undefined) unless what it is made of is what was
   * last applied and it still exists; tells a move of the device as an Event.
   */
  async #applyWorkload(svc: V1Service, spec: DeviceSpec, address: string | undefined): Promise<void> {
    const { ctx } = this;
    const ns = ctx.config.namespace;
    const service = spec.service;
    const objs = deviceObjects(spec, address, ns, ctx.config.replicas, serviceOwner(svc), ctx.settings);
    const rules = address ? deviceEgressRules(spec, address) : [];
    const text = JSON.stringify([rules, ctx.config.replicas, svc.metadata?.uid]);
    const before = this.#applied.get(service);
    const existed = (name: string) => ctx.informers.statefulSets.get(name, ns) !== undefined;
    if (before?.text === text && existed(objs.statefulSet.metadata!.name!)) return;
    await applyWorkload(ctx.cluster, objs, existed);
    this.#applied.set(service, { address: address ?? '', text });
    const from = before?.address;
    if (from && address && from !== address) {
      ctx.log.info({ service, from, to: address }, 'device moved: egress rules follow');
      await ctx.events.record(
        serviceRef(svc),
        'Normal',
        'DeviceMoved',
        `the device's VPC address changed from ${from} to ${address}`,
      );
    } else if (!address) {
      ctx.log.info({ service, from }, 'device gone: its proxies stay, without a rule');
    } else if (!from) {
      // The first time, or the device back after it was gone.
      ctx.log.info({ service, address, ports: spec.ports.length }, 'device proxy applied');
    } else {
      ctx.log.debug({ service, address }, 'device proxy applied again');
    }
  }

  /** Writes the Service's EndpointSlice from the proxy Pods (when it differs); returns how many are ready. */
  async #writeSlice(spec: DeviceSpec, owner: V1OwnerReference): Promise<number> {
    const { ctx } = this;
    const ns = ctx.config.namespace;
    const name = deviceWorkloadName(spec.service);
    const endpoints = proxyEndpoints(
      ctx.informers.devicePods.list(ns).filter((p) => p.metadata?.labels?.[INSTANCE_LABEL] === name),
    );
    const slice = deviceSlice(spec, ns, owner, endpoints);
    if (sliceSays(slice) !== sliceSays(ctx.informers.endpointSlices.get(name, ns))) {
      await apply(ctx.cluster, slice);
      ctx.log.info(
        {
          service: spec.service,
          endpoints: endpoints.map((e) => `${e.ip}${e.serving && !e.terminating ? '' : ' (not ready)'}`),
        },
        'device endpoints written',
      );
    }
    return endpoints.filter((e) => e.serving && !e.terminating).length;
  }

  /** A Warning Event and a False condition; logged when the condition changes, not at every resync. */
  async #refuse(svc: V1Service, reason: string, message: string): Promise<void> {
    const shown = svc.status?.conditions?.find((c) => c.type === DEVICE_CONDITION);
    if (shown?.reason !== reason || shown.message !== message) {
      this.ctx.log.warn({ service: svc.metadata?.name, reason }, message);
    }
    await this.ctx.events.record(serviceRef(svc), 'Warning', reason, message);
    await writeDeviceStatus(this.ctx, svc, { status: 'False', reason, message });
  }

  /** Removes the device workload and slice of `service`, if the caches show any of it. */
  async #cleanup(service: string): Promise<void> {
    const { ctx } = this;
    const ns = ctx.config.namespace;
    const name = deviceWorkloadName(service);
    const secrets = ctx.informers.secrets
      .list(ns)
      .filter(
        (s) => s.metadata?.labels?.[ROLE_LABEL] === 'device' && s.metadata.labels[SERVICE_LABEL] === service,
      );
    const sts = ctx.informers.statefulSets.get(name, ns);
    const slice = ctx.informers.endpointSlices.get(name, ns);
    this.#applied.delete(service);
    if (!sts && !slice && !secrets.length) return;
    await remove(ctx.cluster, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name, namespace: ns },
    });
    await removeWorkload(
      ctx.cluster,
      { role: 'device', namespace: ns, name, service },
      ctx.settings,
      secrets.map((x) => x.metadata!.name!),
    );
    ctx.log.info({ service }, 'device proxy removed');
  }
}
