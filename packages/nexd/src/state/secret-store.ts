// SPDX-License-Identifier: Apache-2.0
// The state inside a Kubernetes Secret (key `state.json`), so that a restarted pod keeps its device id, keys,
// tokens and runtime rules. Talks to the API server through @kubernetes/client-node.
//
// How a save flows (why it never blocks the data plane and never loses a write):
//   1. save(state) validates, makes `state` the newest state of this store (load() returns it from now on)
//      and wakes the writer; it resolves once that state (or a newer one) is in the Secret, or, when the API
//      server does not answer (refused, 5xx, 429, no answer within REQUEST_TIMEOUT_MS), right away with the
//      write left pending: the caller (a control-socket request, the token keeper) goes on.
//   2. The writer replaces the Secret with the newest state at the resourceVersion it last saw (optimistic
//      concurrency: one PUT per save). On 409 it re-reads the Secret, checks it still parses, keeps its other
//      keys and tries again; on 404 it creates it, unless it existed before (a Secret deleted while nexd
//      runs stays deleted: NEX_ERR_STATE_DELETED). Transient failures are retried with backoff, each time
//      with the newest state (states saved meanwhile are coalesced: the newest wins).
//   3. Permanent failures (403 before any write succeeded, a Secret that no longer parses, other 4xx) stop the
//      writer: the waiting and every later save reject with the typed error. A Secret that does not parse is
//      never written. A 401/403 after a successful write is retried (an API server that restarted and has not
//      synced RBAC yet answers 403 for a moment; a rotated token gives 401 until it is re-read).
import * as k8s from '@kubernetes/client-node';
import { NexdError } from '../errors.js';
import { decodeState, emptyState, encodeState, type State, validateState } from './state.js';
import type { StateStore } from './store.js';

/** The key inside the Secret's `data` that holds the state JSON (as the original nexd used). */
export const SECRET_STATE_KEY = 'state.json';
/** How long one API request may take before it counts as a failure of the API server. */
export const REQUEST_TIMEOUT_MS = 5000;
/** Retry backoff of the writer and of the first load: doubling from MIN to MAX. */
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;
/** While flushing, how often a sleeping writer is told to try again. */
const FLUSH_RETRY_MS = 500;
/** How long load() keeps retrying an unreachable API server before nexd gives up starting. */
export const LOAD_TIMEOUT_MS = 60_000;

export interface SecretStateStoreOptions {
  /** A client for the namespace's Secrets (in a pod: `k8s.KubeConfig.loadFromCluster()`). */
  api: k8s.CoreV1Api;
  namespace: string;
  name: string;
  /** Set on a Secret the store creates, i.e. the Deployment the pod belongs to (as the original did). */
  ownerReferences?: k8s.V1OwnerReference[];
  /** Told about outages and recoveries (nexd's pino logger fits). */
  logger?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** How long load() retries an unreachable API server (default LOAD_TIMEOUT_MS). */
  loadTimeoutMs?: number;
  /** Per-request timeout (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
}

/** What went wrong talking to the API server: `status` 0 when no HTTP answer came. */
interface ApiFailure {
  status: number;
  message: string;
}

function failureOf(err: unknown): ApiFailure {
  if (err instanceof k8s.ApiException) {
    let message = String(err.message);
    try {
      const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      if (body && typeof body.message === 'string') message = body.message;
    } catch {
      // Not a Status object: keep the exception's own message.
    }
    return { status: err.code, message };
  }
  const e = err as { code?: string; message?: string };
  return { status: 0, message: e.code ?? e.message ?? String(err) };
}

/** 5xx, 429 and no answer at all are the API server's trouble: retry. Everything else is ours to fix. */
function transient(f: ApiFailure): boolean {
  return f.status === 0 || f.status === 429 || f.status >= 500;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`no answer in ${ms} ms`), { code: 'ETIMEDOUT' })),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

interface Waiter {
  generation: number;
  resolve(): void;
  reject(err: unknown): void;
}

export class SecretStateStore implements StateStore {
  /** i.e. `secret nexd-state in namespace demo1`. */
  readonly location: string;
  readonly #o: SecretStateStoreOptions;
  /** The newest state of this store: what was loaded, or saved last (written or pending). */
  #current: State | undefined;
  /** resourceVersion of the Secret as last read or written; undefined: read before writing. */
  #resourceVersion: string | undefined;
  /** The Secret's other keys (i.e. mounted WireGuard keys), kept on every write. */
  #otherData: Record<string, string> = {};
  /**
   * The labels, annotations and owner references the Secret had when last read: a replace (PUT) without them
   * would delete them, i.e. the labels and owner of a Secret that a controller (nexlink) made for this nexd.
   */
  #otherMeta: Pick<k8s.V1ObjectMeta, 'labels' | 'annotations' | 'ownerReferences'> = {};
  #generation = 0;
  #written = 0;
  #pendingText = '';
  #waiters: Waiter[] = [];
  /** The writer loop runs; cleared synchronously when it ends, so the next save() starts a new one. */
  #writing = false;
  #fatal: unknown;
  #outageSince: number | undefined;
  #wake: (() => void) | undefined;
  /** A write has succeeded with these credentials (see the 401/403 handling of the writer). */
  #everWritten = false;
  /**
   * The uid of the Secret this store loaded or wrote. Once known, a 404, or a Secret of that name with
   * another uid (deleted and made anew, i.e. by the next export of the same name), means ours was deleted
   * on purpose.
   */
  #uid: string | undefined;

  constructor(options: SecretStateStoreOptions) {
    this.#o = options;
    this.location = `secret ${options.name} in namespace ${options.namespace}`;
  }

  /** Writes not yet in the Secret (0 when it holds the newest state). */
  get pendingWrites(): number {
    return this.#generation - this.#written;
  }

  async load(): Promise<State> {
    if (this.#fatal) throw this.#fatal;
    if (this.#current) return structuredClone(this.#current);
    const deadline = Date.now() + (this.#o.loadTimeoutMs ?? LOAD_TIMEOUT_MS);
    for (let delay = RETRY_MIN_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        const secret = await this.#read();
        this.#uid = secret?.metadata?.uid;
        const state = this.#adopt(secret) ?? emptyState();
        this.#current ??= state;
        return structuredClone(this.#current);
      } catch (err) {
        if (err instanceof NexdError) throw err;
        const f = failureOf(err);
        if (!transient(f)) throw this.#permanent('get', f);
        if (Date.now() + delay > deadline) {
          throw new NexdError(
            'NEX_ERR_STATE_UNAVAILABLE',
            `cannot read ${this.location}: the API server did not answer for ${Math.round(
              (this.#o.loadTimeoutMs ?? LOAD_TIMEOUT_MS) / 1000,
            )} s (${f.status || f.message}); nexd needs its state before it starts`,
          );
        }
        await sleep(delay);
      }
    }
  }

  save(state: State): Promise<void> {
    if (this.#fatal) return Promise.reject(this.#fatal);
    let text: string;
    try {
      // The same rules as reading, so we never store what we could not load back.
      text = encodeState(validateState(state, `${this.location} (new state)`));
    } catch (err) {
      return Promise.reject(err);
    }
    this.#current = validateState(JSON.parse(text), this.location);
    this.#pendingText = text;
    const generation = ++this.#generation;
    const done = new Promise<void>((resolve, reject) => this.#waiters.push({ generation, resolve, reject }));
    if (!this.#writing) void this.#runWriter();
    // During an outage the writer is already retrying: do not make the caller wait for its next attempt.
    if (this.#outageSince !== undefined)
      this.#settle(
        (w) => w.generation === generation,
        (w) => w.resolve(),
      );
    return done;
  }

  /**
   * Resolves true when every saved state is in the Secret, false after `timeoutMs` (or when the writer stopped
   * on a permanent error). Cuts the writer's backoff short, at most every FLUSH_RETRY_MS: a pod that is
   * stopping should not sleep through the moment the API server is back.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let nextWake = 0;
    while (this.pendingWrites > 0 && !this.#fatal && Date.now() < deadline) {
      if (Date.now() >= nextWake) {
        this.#wake?.();
        nextWake = Date.now() + FLUSH_RETRY_MS;
      }
      await sleep(50);
    }
    return this.pendingWrites === 0;
  }

  /** The writer's backoff; #wake ends it early. */
  #backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  async #runWriter(): Promise<void> {
    this.#writing = true;
    try {
      await this.#writeUntilCurrent();
    } catch {
      // #writeUntilCurrent settles every waiter itself; nothing is left to report here.
    }
  }

  /** Clears #writing in the same synchronous step that sees nothing left to write (see save()). */
  async #writeUntilCurrent(): Promise<void> {
    let delay = RETRY_MIN_MS;
    for (;;) {
      if (this.#written >= this.#generation || this.#fatal) {
        this.#writing = false;
        return;
      }
      const generation = this.#generation;
      const text = this.#pendingText;
      try {
        await this.#write(text);
        this.#everWritten = true;
        this.#written = generation;
        this.#settle(
          (w) => w.generation <= generation,
          (w) => w.resolve(),
        );
        delay = RETRY_MIN_MS;
        if (this.#outageSince !== undefined) {
          this.#o.logger?.info(
            { secret: this.location, outageMs: Date.now() - this.#outageSince },
            'state written to the Secret again after an API server outage',
          );
          this.#outageSince = undefined;
        }
      } catch (err) {
        const f = err instanceof NexdError ? undefined : failureOf(err);
        // 401/403 after this store has written before: the credentials were good, so this is an API server
        // that just restarted and has not synced RBAC yet, or a token being rotated. Retry, and say why.
        const refusedAfterSuccess =
          f !== undefined && (f.status === 401 || f.status === 403) && this.#everWritten;
        if (f === undefined || (!transient(f) && !refusedAfterSuccess)) {
          this.#fatal = f === undefined ? err : this.#permanent(this.#lastVerb, f);
          this.#settle(
            () => true,
            (w) => w.reject(this.#fatal),
          );
          this.#writing = false;
          return;
        }
        if (this.#outageSince === undefined) {
          this.#outageSince = Date.now();
          this.#o.logger?.warn(
            {
              secret: this.location,
              error: refusedAfterSuccess ? this.#permanent(this.#lastVerb, f).message : f.message,
              status: f.status,
            },
            'API server not answering: the state stays pending and is written when it is back',
          );
        }
        // The data plane must not wait for the API server: waiters go on, the write stays pending.
        this.#settle(
          () => true,
          (w) => w.resolve(),
        );
        await this.#backoff(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  #settle(which: (w: Waiter) => boolean, how: (w: Waiter) => void): void {
    const keep: Waiter[] = [];
    for (const w of this.#waiters) (which(w) ? how : keep.push.bind(keep))(w);
    this.#waiters = keep;
  }

  #lastVerb: 'get' | 'create' | 'update' = 'get';

  async #read(): Promise<k8s.V1Secret | undefined> {
    this.#lastVerb = 'get';
    const { api, name, namespace } = this.#o;
    try {
      return await withTimeout(api.readNamespacedSecret({ name, namespace }), this.#timeout);
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  get #timeout(): number {
    return this.#o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  /** Takes in what the API server holds; returns its state, undefined if it has none. Throws if corrupt. */
  #adopt(secret: k8s.V1Secret | undefined): State | undefined {
    if (!secret) {
      this.#resourceVersion = undefined;
      this.#otherData = {};
      this.#otherMeta = {};
      return undefined;
    }
    const { [SECRET_STATE_KEY]: encoded, ...others } = secret.data ?? {};
    // Decode before adopting anything: a corrupt Secret is never replaced.
    const state =
      encoded === undefined
        ? undefined
        : decodeState(Buffer.from(encoded, 'base64').toString('utf8'), this.location);
    this.#resourceVersion = secret.metadata?.resourceVersion;
    this.#otherData = others;
    const { labels, annotations, ownerReferences } = secret.metadata ?? {};
    this.#otherMeta = {
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
      ...(ownerReferences ? { ownerReferences } : {}),
    };
    return state;
  }

  async #write(text: string): Promise<void> {
    const { api, name, namespace } = this.#o;
    const encoded = Buffer.from(text).toString('base64');
    for (;;) {
      if (this.#resourceVersion === undefined) {
        const existing = await this.#read();
        const uid = existing?.metadata?.uid;
        if (this.#uid !== undefined && uid !== this.#uid) {
          // Deleted while we run: its workload is being removed (nexlink deletes an export's state Secrets
          // with it), and maybe already made anew for the next export of that name. Writing it from a
          // stopping Pod would hand this device's identity to whatever comes next under that name, so this
          // store writes no more.
          throw new NexdError(
            'NEX_ERR_STATE_DELETED',
            `${this.location} was deleted while nexd ran${existing ? ' and made anew (another uid)' : ''}; ` +
              "it is not written, and this run's state is not saved",
          );
        }
        this.#adopt(existing);
        if (!existing) {
          this.#lastVerb = 'create';
          try {
            const created = await withTimeout(
              api.createNamespacedSecret({
                namespace,
                body: {
                  metadata: {
                    name,
                    labels: { 'app.kubernetes.io/managed-by': 'nexd' },
                    ...(this.#o.ownerReferences ? { ownerReferences: this.#o.ownerReferences } : {}),
                  },
                  type: 'Opaque',
                  data: { [SECRET_STATE_KEY]: encoded },
                },
              }),
              this.#timeout,
            );
            this.#resourceVersion = created.metadata?.resourceVersion;
            this.#uid = created.metadata?.uid;
            return;
          } catch (err) {
            // Someone created it meanwhile: read it and replace it.
            if (err instanceof k8s.ApiException && err.code === 409) continue;
            throw err;
          }
        }
      }
      this.#lastVerb = 'update';
      try {
        const replaced = await withTimeout(
          api.replaceNamespacedSecret({
            name,
            namespace,
            body: {
              metadata: { ...this.#otherMeta, name, resourceVersion: this.#resourceVersion },
              type: 'Opaque',
              data: { ...this.#otherData, [SECRET_STATE_KEY]: encoded },
            },
          }),
          this.#timeout,
        );
        this.#resourceVersion = replaced.metadata?.resourceVersion;
        this.#uid = replaced.metadata?.uid;
        return;
      } catch (err) {
        // 409: changed since we saw it (another writer, or an edit); 404: deleted. Read again, then retry.
        if (err instanceof k8s.ApiException && (err.code === 409 || err.code === 404)) {
          this.#resourceVersion = undefined;
          continue;
        }
        // No answer: a replace may still land; the resourceVersion guards the next attempt either way.
        throw err;
      }
    }
  }

  #permanent(verb: 'get' | 'create' | 'update', f: ApiFailure): NexdError {
    const { name, namespace } = this.#o;
    if (f.status === 403) {
      const who = /User "([^"]+)"/.exec(f.message)?.[1] ?? "the pod's ServiceAccount";
      const createHint =
        verb === 'create'
          ? `; or create the Secret beforehand (kubectl -n ${namespace} create secret generic ${name}), ` +
            'since RBAC cannot limit "create" to one name'
          : '';
      return new NexdError(
        'NEX_ERR_STATE_FORBIDDEN',
        `${who} may not ${verb} secrets "${name}" in namespace ${namespace} (HTTP 403). ` +
          `Add a Role with rules [{apiGroups: [""], resources: ["secrets"], resourceNames: ["${name}"], ` +
          `verbs: ["get", "update"]}] and a RoleBinding to the ServiceAccount (deploy/rbac/nexd-state.yaml)${createHint}`,
      );
    }
    if (f.status === 401) {
      return new NexdError(
        'NEX_ERR_STATE_FORBIDDEN',
        `the API server did not accept nexd's credentials for ${this.location} (HTTP 401: ${f.message}); ` +
          'check the ServiceAccount token',
      );
    }
    return new NexdError(
      'NEX_ERR_STATE_IO',
      `cannot ${verb} ${this.location}: HTTP ${f.status}: ${f.message}`,
    );
  }
}
