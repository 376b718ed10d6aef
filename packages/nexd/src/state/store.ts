// SPDX-License-Identifier: Apache-2.0
import type { State } from './state.js';

/**
 * Where nexd keeps its identity and runtime rules. Implementations: FileStateStore (`--state-dir`) and
 * SecretStateStore (a Kubernetes Secret). Both pass test/state-conformance.ts.
 * Contract: `load()` of a store never written gives `emptyState()`; stored data that cannot be parsed
 * gives StateCorruptError from `load()` AND from `save()`, which never replaces it; `save()` is atomic
 * (a reader sees the old or the new state, never a mix) and calls are applied in call order.
 */
export interface StateStore {
  load(): Promise<State>;
  save(state: State): Promise<void>;
  /** Where the state lives, for logs and error messages, i.e. `/var/lib/nexd/state.json`. */
  readonly location: string;
}

/** Loads the current state, lets `update` change it in place, saves it; returns what was saved. */
export async function updateState(store: StateStore, update: (s: State) => void): Promise<State> {
  const current = await store.load();
  update(current);
  await store.save(current);
  return current;
}
