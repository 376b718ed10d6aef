// SPDX-License-Identifier: Apache-2.0
// Readiness: nexd is ready once every condition has been marked. In service mode the conditions are
// `registered` (the device exists in the VPC) and `peer-stream-at-tail` (the watch stream delivered its
// initial peer list); standalone mode marks both once its wg-config peers are installed. Service mode
// also requires `peer-sessions` (a completed handshake with every peer of the first listing, see
// service-plane.ts), so that a restarted device is not sent traffic its peers would still encrypt for
// their old session with it.

export const READINESS_CONDITIONS = ['registered', 'peer-stream-at-tail'] as const;
/** Conditions a data plane may add with require(). */
export const OPTIONAL_READINESS_CONDITIONS = ['peer-sessions', 'security-groups', 'rules-configmap'] as const;
export type ReadinessCondition =
  | (typeof READINESS_CONDITIONS)[number]
  | (typeof OPTIONAL_READINESS_CONDITIONS)[number];

export class Readiness {
  readonly #met = new Set<ReadinessCondition>();
  readonly #required = new Set<ReadinessCondition>(READINESS_CONDITIONS);
  #shuttingDown = false;

  /** Marks a condition as met (or, with `met = false`, as lost again, i.e. the stream fell behind). */
  set(condition: ReadinessCondition, met = true): void {
    if (met) this.#met.add(condition);
    else this.#met.delete(condition);
  }

  /** Adds a condition that must be met too (before it is set). */
  require(condition: ReadinessCondition): void {
    this.#required.add(condition);
  }

  /** Call when SIGTERM arrives: readiness drops at once so Kubernetes stops sending new connections. */
  setShuttingDown(): void {
    this.#shuttingDown = true;
  }

  get ready(): boolean {
    return !this.#shuttingDown && this.pending.length === 0;
  }

  /** Conditions not met yet (plus `shutting-down` during shutdown). */
  get pending(): string[] {
    const p: string[] = [...this.#required].filter((c) => !this.#met.has(c));
    if (this.#shuttingDown) p.push('shutting-down');
    return p;
  }
}
