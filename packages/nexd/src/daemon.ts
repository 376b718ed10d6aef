// SPDX-License-Identifier: Apache-2.0
// `nexd proxy`: put the pieces together. Order of start-up (each step fails fast with a typed error, and
// nothing stored is modified before the state has been read successfully):
//   1. state store load  2. keys  3. health server (so /healthz answers and /readyz says not ready while
//   the data plane waits for the service)  4. data plane  5. proxy rules (flags, then persisted runtime
//   rules)  6. control socket.  Shutdown runs the reverse, draining proxied connections.
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { GlobalConfig } from './config.js';
import {
  controlSocketPath,
  type PingParams,
  type PingResult,
  type ProxyRuleParams,
  type ProxyRuleStatus,
} from './control/protocol.js';
import { type ControlServer, serveControl } from './control/server.js';
import type { DataPlane, DataPlaneFactory } from './data-plane.js';
import { BadFlagError, NexdError } from './errors.js';
import { NexdMetrics } from './health/metrics.js';
import { Readiness } from './health/readiness.js';
import { type HealthServer, startHealthServer } from './health/server.js';
import {
  type KeyLocations,
  type KeySource,
  keyPairFromPrivate,
  loadKeys,
  type WireGuardKeyPair,
} from './keys.js';
import { logAddresses } from './log.js';
import type { ProxySide } from './proxy/network.js';
import { NodeDatagramNetwork, NodeStreamNetwork } from './proxy/node-network.js';
import { ProxyEngine } from './proxy/proxy.js';
import { formatRule, type ProxyRule, type ProxyType, parseRule, ruleKey } from './proxy/rules.js';
import type { StoredRule } from './state/state.js';
import { type StateStore, updateState } from './state/store.js';
import { NEXD_VERSION } from './version.js';
import { loadWgConfig, type WgConfig } from './wg-config.js';

/** How long stop() waits for a pending state write (the Secret store during an API server outage). */
const STATE_FLUSH_MS = 5000;

export interface DaemonOptions {
  config: GlobalConfig;
  /** Rules from the command line. */
  rules: ProxyRule[];
  logger: Logger;
  store: StateStore;
  dataPlane: DataPlaneFactory;
  /** The local network side of the proxy (default: node:net/dgram listening on all addresses). */
  local?: ProxySide;
  keyLocations?: KeyLocations;
  /** Default: `<stateDir>/nexd.sock`. */
  controlSocket?: string;
  /** `agent` (a TUN device) or `proxy` (the netstack, default): only the logs and status differ here. */
  kind?: 'proxy' | 'agent';
  /**
   * A source of rules that follows something outside (`--rules-configmap`), started once the engine is up;
   * nexd is not ready until it calls `onSynced`.
   */
  rulesSource?: (engine: ProxyEngine, onSynced: () => void) => Promise<RulesSource>;
}

/** Rules kept elsewhere and applied live (proxy/rules-configmap.ts). */
export interface RulesSource {
  ownedKeys(): ReadonlySet<string>;
  status(): object;
  stop(): Promise<void>;
}

export interface Daemon {
  readonly proxy: ProxyEngine;
  readonly readiness: Readiness;
  readonly metrics: NexdMetrics;
  readonly keys: WireGuardKeyPair;
  readonly keySource: KeySource;
  readonly health: HealthServer | undefined;
  readonly control: ControlServer;
  /** Stops accepting everywhere, drains proxied connections for up to `drainMs`, then closes everything. */
  stop(drainMs: number): Promise<{ aborted: number }>;
}

function parseParams(params: unknown): ProxyRule[] {
  const p = (params ?? {}) as ProxyRuleParams;
  const rules: ProxyRule[] = [];
  for (const type of ['ingress', 'egress'] as ProxyType[]) {
    const list = p[type] ?? [];
    if (!Array.isArray(list) || list.some((r) => typeof r !== 'string')) {
      throw new NexdError('NEX_ERR_CONTROL', `params.${type} must be an array of rule strings`);
    }
    for (const text of list) rules.push(parseRule(type, text));
  }
  if (rules.length === 0)
    throw new BadFlagError('--ingress/--egress', 'give at least one --ingress or --egress rule');
  return rules;
}

/** Longest wait per echo, and most echoes per request (the control socket is not a flood tool). */
const PING_TIMEOUT_MAX_MS = 10_000;
const PING_COUNT_MAX = 20;

async function pingHandler(plane: DataPlane, params: unknown): Promise<PingResult[]> {
  const p = (params ?? {}) as Partial<PingParams>;
  if (typeof p.address !== 'string' || isIP(p.address) === 0) {
    throw new NexdError(
      'NEX_ERR_CONTROL',
      `ping needs params.address, an IPv4 or IPv6 address (got ${JSON.stringify(p.address)})`,
    );
  }
  const count = p.count ?? 1;
  const timeoutMs = p.timeoutMs ?? 2000;
  if (!Number.isInteger(count) || count < 1 || count > PING_COUNT_MAX) {
    throw new NexdError('NEX_ERR_CONTROL', `ping params.count must be 1-${PING_COUNT_MAX}`);
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > PING_TIMEOUT_MAX_MS) {
    throw new NexdError('NEX_ERR_CONTROL', `ping params.timeoutMs must be 1-${PING_TIMEOUT_MAX_MS}`);
  }
  if (!plane.ping) throw new NexdError('NEX_ERR_CONTROL', 'this data plane cannot send ICMP echoes');
  const results: PingResult[] = [];
  for (let i = 0; i < count; i++) results.push(await plane.ping(p.address, timeoutMs));
  return results;
}

const stored = (r: ProxyRule): StoredRule => ({ type: r.type, rule: formatRule(r) });

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, logger, store } = options;
  const started = Date.now();
  const state = await store.load();
  // Standalone mode: the wg-quick file is read first so its errors (with line numbers) come before
  // anything else, and its PrivateKey is this device's key.
  const wgConfig: WgConfig | undefined = config.wgConfig ? await loadWgConfig(config.wgConfig) : undefined;
  const { keys, source: keySource } = wgConfig
    ? {
        keys: keyPairFromPrivate(wgConfig.interface.privateKey, config.wgConfig!),
        source: 'wg-config' as const,
      }
    : await loadKeys(store, options.keyLocations);
  logger.info({ publicKey: keys.publicKey, source: keySource }, 'WireGuard keys loaded');
  const readiness = new Readiness();
  if (options.rulesSource) readiness.require('rules-configmap');
  const flagRules = new Set(options.rules.map(ruleKey));
  let proxy: ProxyEngine | undefined;
  let rulesSource: RulesSource | undefined;
  const origin = (key: string): ProxyRuleStatus['origin'] =>
    flagRules.has(key) ? 'flag' : rulesSource?.ownedKeys().has(key) ? 'configmap' : 'runtime';
  const proxyStatus = (): ProxyRuleStatus[] =>
    (proxy?.status() ?? []).map((s) => ({ ...s, origin: origin(`${s.type} ${s.rule}`) }));
  const metrics = new NexdMetrics(proxyStatus);
  let health: HealthServer | undefined;
  if (config.healthAddr) {
    health = await startHealthServer({ ...config.healthAddr, readiness, metrics });
    logger.info({ port: health.port }, 'health server listening');
  }
  const plane: DataPlane = await options
    .dataPlane({
      config,
      keys,
      logger,
      store,
      metrics,
      readiness,
      ...(wgConfig ? { wgConfig } : {}),
    })
    .catch(async (err: unknown) => {
      await health?.close();
      throw err;
    });
  metrics.engineDrops = () => plane.drops?.();
  logAddresses(logger, plane.addresses.ipv4, plane.addresses.ipv6);
  const local = options.local ?? { stream: new NodeStreamNetwork(), datagram: new NodeDatagramNetwork() };
  proxy = new ProxyEngine({ tunnel: plane.tunnel, local, logger });
  const engine = proxy;
  const cleanupOnFailure = async (err: unknown): Promise<never> => {
    await engine.close();
    await plane.close();
    await health?.close();
    throw err;
  };
  for (const r of options.rules) await engine.addRule(r).catch(cleanupOnFailure);
  for (const s of state.proxyRules) {
    const r = parseRule(s.type, s.rule);
    if (engine.hasRule(r)) continue;
    // A persisted rule that cannot start (port taken meanwhile) is reported but kept in the state.
    await engine
      .addRule(r)
      .catch((err: unknown) =>
        logger.error({ rule: ruleKey(r), err: String(err) }, 'cannot restore proxy rule'),
      );
  }
  if (options.rulesSource) {
    rulesSource = await options
      .rulesSource(engine, () => readiness.set('rules-configmap'))
      .catch(cleanupOnFailure);
  }

  // proxy.add/remove are load-modify-save on the state: run them one at a time so that two concurrent
  // requests cannot both read the old rule list and lose one update.
  let mutations: Promise<unknown> = Promise.resolve();
  const serialised =
    <T>(fn: (params: unknown) => Promise<T>) =>
    (params: unknown): Promise<T> => {
      const run = mutations.then(() => fn(params));
      mutations = run.catch(() => {});
      return run;
    };

  const control = await serveControl(
    options.controlSocket ?? config.unixSocket ?? controlSocketPath(config.stateDir),
    {
      version: () => ({ version: NEXD_VERSION }),
      status: () => {
        const drops = plane.drops?.();
        return {
          version: NEXD_VERSION,
          mode: config.wgConfig ? 'standalone' : 'service',
          publicKey: keys.publicKey,
          ...(plane.deviceId ? { deviceId: plane.deviceId } : {}),
          ...(plane.device ? { device: plane.device } : {}),
          addresses: plane.addresses,
          ready: readiness.ready,
          pending: readiness.pending,
          rules: engine.rules().length,
          activeConnections: engine.activeConnections,
          udpFlows: engine.udpFlows,
          uptimeSeconds: Math.round((Date.now() - started) / 1000),
          stateLocation: store.location,
          ...(rulesSource ? { rulesConfigMap: rulesSource.status() } : {}),
          ...(drops ? { drops } : {}),
        };
      },
      peers: () => plane.peers(),
      ping: (params) => pingHandler(plane, params),
      'debug.set': (params: unknown) => {
        const on = (params as { on?: unknown } | undefined)?.on;
        if (typeof on !== 'boolean') {
          throw new NexdError('NEX_ERR_CONTROL', 'debug.set needs {"on": true|false}');
        }
        // The root logger, which the components log through; off restores the configured level.
        logger.level = on ? 'debug' : config.logLevel;
        logger.info({ level: logger.level }, 'log level changed');
        return { level: logger.level };
      },
      'proxy.list': () => proxyStatus(),
      'proxy.add': serialised(async (params) => {
        const rules = parseParams(params);
        for (const r of rules) {
          if (engine.hasRule(r)) {
            throw new NexdError(
              'NEX_ERR_PROXY_RULE_EXISTS',
              `${ruleKey(r)} already exists; nothing was added`,
            );
          }
        }
        const added: ProxyRule[] = [];
        try {
          for (const r of rules) {
            await engine.addRule(r);
            added.push(r);
          }
          // Persist before answering, so a rule reported as added survives a restart.
          await updateState(store, (s) => {
            for (const r of rules) s.proxyRules.push(stored(r));
          });
        } catch (err) {
          for (const r of added) await engine.removeRule(r).catch(() => {});
          throw err;
        }
        return { added: rules.map(stored) };
      }),
      'proxy.remove': serialised(async (params) => {
        const rules = parseParams(params);
        for (const r of rules) {
          if (!engine.hasRule(r)) {
            throw new NexdError(
              'NEX_ERR_PROXY_RULE_NOT_FOUND',
              `${ruleKey(r)} does not exist; nothing was removed`,
            );
          }
          if (rulesSource?.ownedKeys().has(ruleKey(r))) {
            throw new NexdError(
              'NEX_ERR_CONTROL',
              `${ruleKey(r)} comes from the rules ConfigMap; remove it there, nothing was removed`,
            );
          }
        }
        const keys = new Set(rules.map(ruleKey));
        await updateState(store, (s) => {
          s.proxyRules = s.proxyRules.filter((x) => !keys.has(ruleKey(parseRule(x.type, x.rule))));
        });
        for (const r of rules) await engine.removeRule(r);
        return { removed: rules.map(stored) };
      }),
    },
    logger,
  ).catch(cleanupOnFailure);

  logger.info(
    { controlSocket: control.path, rules: engine.rules().length },
    `nexd ${options.kind ?? 'proxy'} running`,
  );
  return {
    proxy: engine,
    readiness,
    metrics,
    keys,
    keySource,
    health,
    control,
    stop: async (drainMs) => {
      readiness.setShuttingDown();
      await control.close();
      await rulesSource?.stop();
      const result = await engine.close({ drainMs });
      if (result.aborted > 0)
        logger.warn({ aborted: result.aborted }, 'closed connections still open after the drain timeout');
      await plane.close();
      await health?.close();
      // A state write still pending (API server down) gets a last chance before the process ends.
      if (store.flush && !(await store.flush(STATE_FLUSH_MS)))
        logger.warn({ state: store.location }, 'exiting with a state write still pending');
      return result;
    },
  };
}
