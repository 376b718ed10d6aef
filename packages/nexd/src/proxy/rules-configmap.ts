// SPDX-License-Identifier: Apache-2.0
// `--rules-configmap NAME`: proxy rules kept in a Kubernetes ConfigMap and applied live as it changes, so a
// controller (nexlink) or `kubectl edit` can add and remove targets without restarting the proxy and
// dropping its connections. The ConfigMap's keys are `ingress` and `egress`, one rule per line in the form
// of the flags (`#` comments and blank lines allowed):
//
//   data:
//     egress: |
//       tcp:20000:100.100.0.3:80
//       tcp:20000:100.100.0.4:80
//
// How a change flows: client-node's ListWatch lists and watches (fieldSelector metadata.name=NAME, so that a
// Role limited to that one name may list and watch it; it relists after 410 Gone by itself) -> every add,
// update or delete applies what its cache holds (the ConfigMap, or nothing); after an error the ListWatch
// stops and is started again with a backoff.
// Applying is a diff against the rules this source added: the rules it no longer names are removed (their
// open connections continue, as with proxy.remove), new ones added. Content that does not parse is refused
// whole, keeping the last good set: a typo in one line never takes the other rules down. The rules are not
// written to nexd's state: the ConfigMap is where they are kept.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { NexdError } from '../errors.js';
import type { ProxyEngine } from './proxy.js';
import { type ProxyRule, type ProxyType, parseRule, RuleParseError, ruleKey } from './rules.js';

const RULE_KEYS: readonly ProxyType[] = ['ingress', 'egress'];
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 10_000;

/** The rules of a ConfigMap's `data`, in order (ingress first); throws NEX_ERR_PROXY_RULE naming the line. */
export function parseRulesData(data: Readonly<Record<string, string>> | undefined): ProxyRule[] {
  const rules: ProxyRule[] = [];
  const seen = new Set<string>();
  for (const key of Object.keys(data ?? {})) {
    if (!(RULE_KEYS as readonly string[]).includes(key)) {
      throw new NexdError(
        'NEX_ERR_PROXY_RULE',
        `the rules ConfigMap has a key ${JSON.stringify(key)}; expected only "ingress" and "egress", each a rule per line`,
      );
    }
  }
  for (const type of RULE_KEYS) {
    const lines = (data?.[type] ?? '').split('\n');
    lines.forEach((raw, i) => {
      const text = raw.replace(/#.*/, '').trim();
      if (!text) return;
      let rule: ProxyRule;
      try {
        rule = parseRule(type, text);
      } catch (err) {
        const detail = err instanceof RuleParseError ? err.message : String(err);
        throw new NexdError('NEX_ERR_PROXY_RULE', `the rules ConfigMap's "${type}" line ${i + 1}: ${detail}`);
      }
      const key = ruleKey(rule);
      if (seen.has(key)) {
        throw new NexdError(
          'NEX_ERR_PROXY_RULE',
          `the rules ConfigMap's "${type}" line ${i + 1}: ${key} is given twice`,
        );
      }
      seen.add(key);
      rules.push(rule);
    });
  }
  return rules;
}

export interface ApplyResult {
  added: string[];
  removed: string[];
  /** Rules that could not be added (i.e. their port is taken); tried again at the next change. */
  failed: { rule: string; error: string }[];
}

/**
 * The rules one source owns in an engine. apply() converges the engine on a new set: rules the engine holds
 * from another origin (a flag, proxy.add) are left to that origin and not owned here.
 */
export class OwnedRules {
  readonly #owned = new Map<string, ProxyRule>();

  constructor(private readonly engine: ProxyEngine) {}

  /** The canonical keys (`egress tcp:...`) of the rules this source added. */
  keys(): ReadonlySet<string> {
    return new Set(this.#owned.keys());
  }

  async apply(desired: readonly ProxyRule[]): Promise<ApplyResult> {
    const want = new Map(desired.map((r) => [ruleKey(r), r]));
    const result: ApplyResult = { added: [], removed: [], failed: [] };
    // Removals first: a rule moved to another port frees its old one before the new one opens.
    for (const [key, rule] of this.#owned) {
      if (want.has(key)) continue;
      this.#owned.delete(key);
      await this.engine.removeRule(rule).catch(() => {});
      result.removed.push(key);
    }
    for (const [key, rule] of want) {
      if (this.#owned.has(key) || this.engine.hasRule(rule)) continue;
      try {
        await this.engine.addRule(rule);
        this.#owned.set(key, rule);
        result.added.push(key);
      } catch (err) {
        result.failed.push({ rule: key, error: (err as Error).message ?? String(err) });
      }
    }
    return result;
  }
}

export interface RulesConfigMapOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  name: string;
  engine: ProxyEngine;
  logger: Logger;
  /** Called once the API server first answered (the rules, if any, are applied then). */
  onSynced?: () => void;
}

export interface RulesConfigMapStatus {
  configMap: string;
  /** The resourceVersion whose content is applied. */
  resourceVersion?: string;
  rules: number;
  /** Why the newest content was refused (the last good set stays), or why the API server cannot be read. */
  error?: string;
}

/** Follows one ConfigMap and keeps the engine's rules equal to its content. */
export class RulesConfigMap {
  readonly #opts: RulesConfigMapOptions;
  readonly #owned: OwnedRules;
  /** client-node's list + watch (relists after 410 Gone itself); after any other error it stops, and we restart it. */
  readonly #informer: k8s.ListWatch<k8s.V1ConfigMap>;
  #errors = 0;
  #stopped = false;
  #synced = false;
  #retryMs = RETRY_MIN_MS;
  #retryTimer: NodeJS.Timeout | undefined;
  #status: RulesConfigMapStatus;
  /** Applies run one at a time, in the order the events came. */
  #applying: Promise<unknown> = Promise.resolve();

  constructor(opts: RulesConfigMapOptions) {
    this.#opts = opts;
    this.#owned = new OwnedRules(opts.engine);
    this.#status = { configMap: `${opts.namespace}/${opts.name}`, rules: 0 };
    const api = opts.kc.makeApiClient(k8s.CoreV1Api);
    const { namespace } = opts;
    const fieldSelector = `metadata.name=${opts.name}`;
    this.#informer = new k8s.ListWatch<k8s.V1ConfigMap>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`,
      new k8s.Watch(opts.kc),
      () => api.listNamespacedConfigMap({ namespace, fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    // Whatever changed, the cache holds the one ConfigMap or nothing: apply that.
    for (const verb of ['add', 'update', 'delete'] as const)
      this.#informer.on(verb, () => void this.#enqueue(this.#informer.list()[0]));
    this.#informer.on('error', (err: unknown) => {
      this.#errors++;
      if (this.#stopped) return;
      this.#status.error = `cannot read the rules ConfigMap: ${describeApiError(err)}`;
      opts.logger.error(
        { configMap: this.#status.configMap, err: this.#status.error },
        'rules ConfigMap unreadable; retrying',
      );
      const delay = this.#retryMs;
      this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
      this.#retryTimer = setTimeout(() => void this.#start(), delay);
      this.#retryTimer.unref();
    });
  }

  /** Rule keys this ConfigMap put into the engine. */
  ownedKeys(): ReadonlySet<string> {
    return this.#owned.keys();
  }

  status(): RulesConfigMapStatus {
    return { ...this.#status };
  }

  start(): void {
    void this.#start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    await this.#informer.stop();
    await this.#applying;
  }

  /** Lists and watches; once a list has answered, applies what it found (nothing, if there is no ConfigMap). */
  async #start(): Promise<void> {
    if (this.#stopped) return;
    const errors = this.#errors;
    await this.#informer.start();
    if (this.#errors !== errors || this.#stopped) return;
    this.#retryMs = RETRY_MIN_MS;
    const cm = this.#informer.list()[0];
    if (!cm)
      this.#opts.logger.warn(
        { configMap: this.#status.configMap },
        'the rules ConfigMap does not exist (yet): no rules from it',
      );
    await this.#enqueue(cm);
    if (!this.#synced) {
      this.#synced = true;
      this.#opts.onSynced?.();
    }
  }

  #enqueue(cm: k8s.V1ConfigMap | undefined): Promise<void> {
    const run = this.#applying.then(() => this.#apply(cm));
    this.#applying = run.catch(() => {});
    return run;
  }

  async #apply(cm: k8s.V1ConfigMap | undefined): Promise<void> {
    const { logger } = this.#opts;
    const rv = cm?.metadata?.resourceVersion;
    if (cm && rv && rv === this.#status.resourceVersion && !this.#status.error) return;
    let rules: ProxyRule[];
    try {
      rules = parseRulesData(cm?.data);
    } catch (err) {
      this.#status.error = (err as Error).message;
      logger.error(
        { configMap: this.#status.configMap, resourceVersion: rv, err: this.#status.error },
        'rules ConfigMap refused; the rules applied before stay',
      );
      return;
    }
    const r = await this.#owned.apply(rules);
    this.#status.resourceVersion = rv;
    this.#status.rules = this.#owned.keys().size;
    if (r.failed.length) {
      this.#status.error = r.failed.map((f) => `${f.rule}: ${f.error}`).join('; ');
      logger.error(
        { configMap: this.#status.configMap, failed: r.failed },
        'rules from the ConfigMap not added',
      );
    } else delete this.#status.error;
    if (r.added.length || r.removed.length) {
      logger.info(
        { configMap: this.#status.configMap, resourceVersion: rv, added: r.added, removed: r.removed },
        'rules ConfigMap applied',
      );
    }
  }
}

function describeApiError(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const code = err.code;
    const hint =
      code === 403
        ? " (the pod's Role needs get, list and watch on this ConfigMap: resourceNames may name it)"
        : '';
    return `HTTP ${code}${hint}`;
  }
  return String((err as Error)?.message ?? err);
}
