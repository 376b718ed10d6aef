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
  /**
   * Stores that write behind (the Secret store during an API server outage) resolve true once everything
   * saved is stored, false after `timeoutMs`; the file store writes before save() resolves and has none.
   */
  flush?(timeoutMs: number): Promise<boolean>;
  /** Where the state lives, for logs and error messages, i.e. `/var/lib/nexd/state.json`. */
  readonly location: string;
}

/** The tail of each store's chain of updates (see updateState). */
const updates = new WeakMap<StateStore, Promise<unknown>>();

/**
 * Loads the current state, lets `update` change it in place, saves it; returns what was saved. Updates of
 * one store run one at a time: the token keeper, registration and the control socket all update the
 * same state, and two interleaved load-modify-save cycles would lose one of the changes.
 */
export function updateState(store: StateStore, update: (s: State) => void): Promise<State> {
  const previous = updates.get(store) ?? Promise.resolve();
  const run = previous.then(async () => {
    const current = await store.load();
    update(current);
    await store.save(current);
    return current;
  });
  updates.set(
    store,
    run.catch(() => {}),
  );
  return run;
}
