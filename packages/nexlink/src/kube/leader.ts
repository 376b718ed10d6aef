// SPDX-License-Identifier: Apache-2.0
// Leader election with a coordination.k8s.io Lease, as client-go's leaderelection: only the holder
// reconciles, so two nexlink replicas never both write. The holder renews every RENEW_MS; a candidate takes
// the Lease once `renewTime + leaseDurationSeconds` has passed. Writes use the Lease's resourceVersion
// (optimistic concurrency), so of two candidates only one wins. A holder that cannot renew within the
// duration stops leading (the process exits and is restarted), as controller-runtime does: a controller
// that might not be the leader any more must stop writing at once.
import { CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Cluster } from './cluster.js';
import { statusOf } from './cluster.js';

export const LEASE_DURATION_S = 15;
export const RENEW_MS = 5000;
export const RETRY_MS = 2000;

export type LeaseDecision = 'acquire' | 'renew' | 'wait';

/** What a candidate `me` does with `lease` at `now` (pure). */
export function decide(lease: V1Lease | undefined, me: string, now: number): LeaseDecision {
  const spec = lease?.spec;
  if (!spec?.holderIdentity) return 'acquire';
  if (spec.holderIdentity === me) return 'renew';
  const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
  const duration = (spec.leaseDurationSeconds ?? LEASE_DURATION_S) * 1000;
  return now >= renewed + duration ? 'acquire' : 'wait';
}

export class LeaderElector {
  readonly #api: CoordinationV1Api;
  #timer: NodeJS.Timeout | undefined;
  #lastRenew = 0;
  #stopped = false;

  constructor(
    cluster: Cluster,
    readonly namespace: string,
    readonly name: string,
    readonly identity: string,
    readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void },
  ) {
    this.#api = cluster.kc.makeApiClient(CoordinationV1Api);
  }

  /** One attempt: true when we hold the Lease afterwards. */
  async tryAcquireOrRenew(now = Date.now()): Promise<boolean> {
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const d = decide(lease, this.identity, now);
    if (d === 'wait') return false;
    const stamp = new V1MicroTime(now);
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: LEASE_DURATION_S,
      renewTime: stamp,
      acquireTime: d === 'acquire' ? stamp : (lease?.spec?.acquireTime ?? stamp),
      leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (d === 'acquire' && lease ? 1 : 0),
    };
    try {
      if (!lease) {
        await this.#api.createNamespacedLease({
          namespace: this.namespace,
          body: { metadata: { name: this.name, namespace: this.namespace }, spec },
        });
      } else {
        await this.#api.replaceNamespacedLease({
          name: this.name,
          namespace: this.namespace,
          body: { metadata: { ...lease.metadata, name: this.name, namespace: this.namespace }, spec },
        });
      }
    } catch (err) {
      // 409: another candidate wrote first.
      if (statusOf(err) === 409) return false;
      throw err;
    }
    this.#lastRenew = now;
    return true;
  }

  /** Resolves once we lead; then keeps renewing and calls `onLost` if renewing fails for a lease duration. */
  async lead(onLost: () => void): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      const ok = await this.tryAcquireOrRenew().catch((err: unknown) => {
        this.log.warn({ err: String((err as Error)?.message ?? err) }, 'lease attempt failed');
        return false;
      });
      if (ok) break;
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
    this.log.info({ lease: this.name, identity: this.identity }, 'leading');
    const renew = async () => {
      if (this.#stopped) return;
      const ok = await this.tryAcquireOrRenew().catch(() => false);
      if (!ok && Date.now() - this.#lastRenew >= LEASE_DURATION_S * 1000) {
        this.log.warn({ lease: this.name }, 'lost the lease: stopping');
        onLost();
        return;
      }
      this.#timer = setTimeout(renew, ok ? RENEW_MS : RETRY_MS);
    };
    this.#timer = setTimeout(renew, RENEW_MS);
  }

  /** Stops renewing without giving the Lease up (what a crash looks like to the other replicas). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Stops renewing and gives the Lease up, so that another replica takes over at once. */
  async release(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    try {
      const lease = await this.#api.readNamespacedLease({ name: this.name, namespace: this.namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      await this.#api.replaceNamespacedLease({
        name: this.name,
        namespace: this.namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, renewTime: undefined } },
      });
    } catch {
      // Best effort: otherwise the next leader waits out the lease duration.
    }
  }
}
