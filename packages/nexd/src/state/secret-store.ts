// SPDX-License-Identifier: Apache-2.0
// The state inside a Kubernetes Secret, so that a restarted pod keeps its identity and runtime rules.
// The Kubernetes client is not wired yet: the store talks to the narrow SecretApi seam below, which a
// @kubernetes/client-node adapter will implement (read = readNamespacedSecret, create =
// createNamespacedSecret, replace = replaceNamespacedSecret with metadata.resourceVersion for optimistic
// concurrency). MemorySecretApi is the in-memory double used by the conformance suite.
import { NexdError } from '../errors.js';
import { decodeState, encodeState, type State, validateState } from './state.js';
import type { StateStore } from './store.js';

/** The key inside the Secret's `data` that holds the state JSON. */
export const SECRET_STATE_KEY = 'state.json';
const MAX_CONFLICT_RETRIES = 3;

export interface SecretSnapshot {
  /** Secret `data`: values are base64, as in the Kubernetes API. */
  data: Record<string, string>;
  /** metadata.resourceVersion, i.e. `"12345"`. */
  resourceVersion: string;
}

export interface SecretApi {
  /** The Secret, or undefined if it does not exist (HTTP 404). */
  read(): Promise<SecretSnapshot | undefined>;
  /** Creates it; rejects with SecretConflictError if it already exists (HTTP 409). */
  create(data: Record<string, string>): Promise<void>;
  /** Replaces it if still at `resourceVersion`; rejects with SecretConflictError otherwise (HTTP 409). */
  replace(data: Record<string, string>, resourceVersion: string): Promise<void>;
  /** i.e. `secret nexd-proxy-state in namespace demo1`. */
  readonly description: string;
}

export class SecretConflictError extends Error {
  constructor() {
    super('the Secret changed since it was read (HTTP 409)');
    this.name = 'SecretConflictError';
  }
}

export class SecretStateStore implements StateStore {
  readonly location: string;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly api: SecretApi) {
    this.location = api.description;
  }

  #decode(snap: SecretSnapshot | undefined): State | undefined {
    const encoded = snap?.data[SECRET_STATE_KEY];
    if (encoded === undefined) return undefined;
    return decodeState(Buffer.from(encoded, 'base64').toString('utf8'), this.location);
  }

  async load(): Promise<State> {
    return this.#decode(await this.api.read()) ?? validateState({ version: 1 }, this.location);
  }

  save(state: State): Promise<void> {
    const run = this.#queue.then(() => this.#save(state));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #save(state: State): Promise<void> {
    const encoded = Buffer.from(encodeState(validateState(state, `${this.location} (new state)`))).toString(
      'base64',
    );
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const snap = await this.api.read();
      this.#decode(snap); // throws StateCorruptError: never replace what we cannot read
      try {
        if (!snap) await this.api.create({ [SECRET_STATE_KEY]: encoded });
        else await this.api.replace({ ...snap.data, [SECRET_STATE_KEY]: encoded }, snap.resourceVersion);
        return;
      } catch (err) {
        if (!(err instanceof SecretConflictError)) throw err;
      }
    }
    throw new NexdError(
      'NEX_ERR_STATE_CONFLICT',
      `${this.location} kept changing under nexd (${MAX_CONFLICT_RETRIES} conflicts); is another nexd using it?`,
    );
  }
}

/** An in-memory Secret with Kubernetes' resourceVersion semantics, for tests. */
export class MemorySecretApi implements SecretApi {
  readonly description: string;
  snapshot: SecretSnapshot | undefined;
  #version = 0;

  constructor(description = 'secret nexd-test-state (in memory)') {
    this.description = description;
  }

  async read(): Promise<SecretSnapshot | undefined> {
    return (
      this.snapshot && { data: { ...this.snapshot.data }, resourceVersion: this.snapshot.resourceVersion }
    );
  }

  async create(data: Record<string, string>): Promise<void> {
    if (this.snapshot) throw new SecretConflictError();
    this.snapshot = { data: { ...data }, resourceVersion: String(++this.#version) };
  }

  async replace(data: Record<string, string>, resourceVersion: string): Promise<void> {
    if (!this.snapshot || this.snapshot.resourceVersion !== resourceVersion) throw new SecretConflictError();
    this.snapshot = { data: { ...data }, resourceVersion: String(++this.#version) };
  }
}
