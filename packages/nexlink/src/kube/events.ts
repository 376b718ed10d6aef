// SPDX-License-Identifier: Apache-2.0
// Kubernetes Events on the objects nexlink acts for (`kubectl describe service nginx` shows why an export
// was refused). The same reason and message on the same object is recorded once per REPEAT_MS, so a Service
// retried at every resync does not flood the namespace.
import type { CoreV1Event, V1ObjectReference, V1Service } from '@kubernetes/client-node';
import type { Cluster } from './cluster.js';

export type EventType = 'Normal' | 'Warning';

/** The reference an Event on `svc` names. */
export function serviceRef(svc: V1Service): V1ObjectReference {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    name: svc.metadata?.name,
    namespace: svc.metadata?.namespace,
    uid: svc.metadata?.uid,
  };
}

export class EventRecorder {
  readonly #cluster: Cluster;
  readonly #component: string;
  /** `uid/reason/message` -> when it was last recorded; bounded by MAX_TRACKED. */
  readonly #seen = new Map<string, number>();
  static readonly MAX_TRACKED = 1000;
  static readonly REPEAT_MS = 5 * 60_000;

  constructor(cluster: Cluster, component = 'nexlink') {
    this.#cluster = cluster;
    this.#component = component;
  }

  async record(object: V1ObjectReference, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = object.namespace ?? 'default';
    const key = `${object.uid}/${reason}/${message}`;
    const now = new Date();
    const last = this.#seen.get(key);
    if (last !== undefined && now.getTime() - last < EventRecorder.REPEAT_MS) return;
    const body: CoreV1Event = {
      metadata: { generateName: `${object.name}.`, namespace },
      involvedObject: object,
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.#component },
      reportingComponent: this.#component,
    };
    await this.#cluster.core.createNamespacedEvent({ namespace, body });
    if (this.#seen.size >= EventRecorder.MAX_TRACKED) this.#seen.clear();
    this.#seen.set(key, now.getTime());
  }
}
