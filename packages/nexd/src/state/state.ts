// SPDX-License-Identifier: Apache-2.0
// What nexd keeps between restarts, and the validation applied whenever it is read back.
import { StateCorruptError } from '../errors.js';
import { formatRule, type ProxyType, parseRule, RuleParseError } from '../proxy/rules.js';

export const STATE_VERSION = 1;

/** A rule added at runtime (nexctl), restored on restart. `rule` is canonical text, i.e. `tcp:80:10.0.0.1:80`. */
export interface StoredRule {
  type: ProxyType;
  rule: string;
}

export interface StoredTokens {
  accessToken: string;
  refreshToken?: string;
  /** When the access token expires, ISO 8601, i.e. `2026-11-24T03:00:00.000Z`. */
  expiresAt?: string;
}

/** A peer as last applied to the engine, so a restart can serve the data plane before the service answers. */
export interface StoredPeer {
  publicKey: string;
  /** i.e. `127.0.0.1:51820`. */
  endpoint?: string;
  /** i.e. `['100.100.0.2/32', '200::2/128']`. */
  allowedIps: string[];
  persistentKeepalive?: number;
}

/** What the last successful registration and peer sync gave this device (see service-plane.ts). */
export interface StoredNetwork {
  vpcId: string;
  /** Netstack addresses with prefix, i.e. `['100.100.0.1/16', '200::1/64']`. */
  addresses: string[];
  ipv4: string[];
  ipv6: string[];
  peers: StoredPeer[];
}

export interface State {
  version: typeof STATE_VERSION;
  /** WireGuard private key, base64 as `wg genkey` prints it. */
  privateKey?: string;
  publicKey?: string;
  /** The device id the service assigned at registration (a UUID). */
  deviceId?: string;
  /**
   * The device's own bearer token, kept after registering with a registration key: a single-use key is
   * dead once used, so a restarted nexd logs in with this instead.
   */
  deviceToken?: string;
  tokens?: StoredTokens;
  /** The WireGuard port of the last start, so peers' stored endpoint stays right across restarts, i.e. 51820. */
  listenPort?: number;
  proxyRules: StoredRule[];
  network?: StoredNetwork;
}

export function emptyState(): State {
  return { version: STATE_VERSION, proxyRules: [] };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new Error(`${where}${key} must be a string`);
  return v;
}

function stringArray(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${where} must be strings`);
  return v as string[];
}

function validateNetwork(v: unknown): StoredNetwork {
  if (!isObject(v) || typeof v.vpcId !== 'string') throw new Error('network must be {"vpcId":"...",...}');
  const peers = v.peers ?? [];
  if (!Array.isArray(peers)) throw new Error('network.peers must be an array');
  return {
    vpcId: v.vpcId,
    addresses: stringArray(v.addresses, 'network.addresses'),
    ipv4: stringArray(v.ipv4 ?? [], 'network.ipv4'),
    ipv6: stringArray(v.ipv6 ?? [], 'network.ipv6'),
    peers: peers.map((p, i) => {
      if (!isObject(p) || typeof p.publicKey !== 'string')
        throw new Error(`network.peers[${i}] has no publicKey`);
      const peer: StoredPeer = {
        publicKey: p.publicKey,
        allowedIps: stringArray(p.allowedIps, `network.peers[${i}].allowedIps`),
      };
      const endpoint = optionalString(p, 'endpoint', `network.peers[${i}].`);
      if (endpoint !== undefined) peer.endpoint = endpoint;
      if (typeof p.persistentKeepalive === 'number') peer.persistentKeepalive = p.persistentKeepalive;
      return peer;
    }),
  };
}

/** Checks a parsed JSON value and returns it as State; `location` names the file or Secret in errors. */
export function validateState(value: unknown, location: string): State {
  try {
    if (!isObject(value)) throw new Error('top level must be an object');
    if (value.version !== STATE_VERSION) {
      throw new Error(`version must be ${STATE_VERSION}, found ${JSON.stringify(value.version)}`);
    }
    const state: State = emptyState();
    const privateKey = optionalString(value, 'privateKey', '');
    const publicKey = optionalString(value, 'publicKey', '');
    const deviceId = optionalString(value, 'deviceId', '');
    if (privateKey !== undefined) state.privateKey = privateKey;
    if (publicKey !== undefined) state.publicKey = publicKey;
    if (deviceId !== undefined) state.deviceId = deviceId;
    if (value.listenPort !== undefined) {
      const p = value.listenPort;
      if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
        throw new Error('listenPort must be a port number 1-65535');
      }
      state.listenPort = p;
    }
    const deviceToken = optionalString(value, 'deviceToken', '');
    if (deviceToken !== undefined) state.deviceToken = deviceToken;
    if (value.tokens !== undefined) {
      if (!isObject(value.tokens)) throw new Error('tokens must be an object');
      const accessToken = optionalString(value.tokens, 'accessToken', 'tokens.');
      if (accessToken === undefined) throw new Error('tokens.accessToken is missing');
      const tokens: StoredTokens = { accessToken };
      const refreshToken = optionalString(value.tokens, 'refreshToken', 'tokens.');
      const expiresAt = optionalString(value.tokens, 'expiresAt', 'tokens.');
      if (refreshToken !== undefined) tokens.refreshToken = refreshToken;
      if (expiresAt !== undefined) {
        if (Number.isNaN(Date.parse(expiresAt))) throw new Error('tokens.expiresAt is not a date');
        tokens.expiresAt = expiresAt;
      }
      state.tokens = tokens;
    }
    if (value.network !== undefined) state.network = validateNetwork(value.network);
    const rules = value.proxyRules ?? [];
    if (!Array.isArray(rules)) throw new Error('proxyRules must be an array');
    rules.forEach((r, i) => {
      if (!isObject(r) || (r.type !== 'ingress' && r.type !== 'egress') || typeof r.rule !== 'string') {
        throw new Error(`proxyRules[${i}] must be {"type":"ingress"|"egress","rule":"..."}`);
      }
      parseRule(r.type, r.rule);
      state.proxyRules.push({ type: r.type, rule: r.rule });
    });
    return state;
  } catch (err) {
    if (err instanceof RuleParseError) throw new StateCorruptError(location, err.message);
    throw new StateCorruptError(location, (err as Error).message);
  }
}

/**
 * The state file of the original (Go) nexd, in a file or in the Secret its kstore wrote: no `version`,
 * dashed keys, Go's zero values for what is unset (`""`, `null`), i.e.
 * `{"public-key":"...","private-key":"...","auth-token":{"access_token":"...","token_type":"Bearer",
 * "refresh_token":"...","expiry":"2023-07-01T10:00:00Z"},"proxy-rules-config":{"egress":null,"ingress":["tcp:80:web:80"]}}`.
 * Its kstore created the Secret with `{}` before the first save, so `{}` is a (empty) state of this shape.
 * `bearer-token` is dropped: the original never read it back either, and our nexd gets its own device token.
 */
export function migrateOriginalState(value: Record<string, unknown>, location: string): State {
  try {
    const state: State = emptyState();
    const str = (o: Record<string, unknown>, key: string, where: string): string | undefined => {
      const v = o[key];
      if (v === undefined || v === null || v === '') return undefined;
      if (typeof v !== 'string') throw new Error(`${where}${key} must be a string`);
      return v;
    };
    const privateKey = str(value, 'private-key', '');
    const publicKey = str(value, 'public-key', '');
    if (privateKey !== undefined) state.privateKey = privateKey;
    if (publicKey !== undefined) state.publicKey = publicKey;
    const auth = value['auth-token'];
    if (auth !== undefined && auth !== null) {
      if (!isObject(auth)) throw new Error('auth-token must be an object');
      const accessToken = str(auth, 'access_token', 'auth-token.');
      if (accessToken !== undefined) {
        const tokens: StoredTokens = { accessToken };
        const refreshToken = str(auth, 'refresh_token', 'auth-token.');
        if (refreshToken !== undefined) tokens.refreshToken = refreshToken;
        const expiry = str(auth, 'expiry', 'auth-token.');
        // Go's zero time (0001-01-01T00:00:00Z) means "no expiry".
        if (expiry !== undefined && !expiry.startsWith('0001-')) {
          if (Number.isNaN(Date.parse(expiry))) throw new Error('auth-token.expiry is not a date');
          tokens.expiresAt = new Date(expiry).toISOString();
        }
        state.tokens = tokens;
      }
    }
    const rules = value['proxy-rules-config'];
    if (rules !== undefined && rules !== null) {
      if (!isObject(rules)) throw new Error('proxy-rules-config must be an object');
      for (const type of ['egress', 'ingress'] as const) {
        const list = rules[type] ?? [];
        if (!Array.isArray(list)) throw new Error(`proxy-rules-config.${type} must be an array`);
        list.forEach((r, i) => {
          if (typeof r !== 'string') throw new Error(`proxy-rules-config.${type}[${i}] must be a string`);
          // Canonical text, so a rule given again on the command line is recognised as the same rule.
          state.proxyRules.push({ type, rule: formatRule(parseRule(type, r)) });
        });
      }
    }
    return state;
  } catch (err) {
    throw new StateCorruptError(location, `original nexd state: ${(err as Error).message}`);
  }
}

/**
 * Parses stored text; bad JSON or a bad shape is a StateCorruptError naming `location`. An object without
 * `version` is the original nexd's format and is migrated (the next save writes ours).
 */
export function decodeState(text: string, location: string): State {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new StateCorruptError(location, `not valid JSON: ${(err as Error).message}`);
  }
  if (isObject(value) && !('version' in value)) return migrateOriginalState(value, location);
  return validateState(value, location);
}

export function encodeState(state: State): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}
