// SPDX-License-Identifier: Apache-2.0
// wg-quick style configuration files for standalone mode (`nexd proxy --wg-config FILE`): the interface's
// key, addresses and port, and a static peer list. Keys are case-insensitive as in wg(8)/wg-quick(8);
// wg-quick-only keys that make no sense for a userspace proxy (DNS, Table, PostUp, ...) are accepted and
// ignored, anything else unknown is an error with its line number.
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { formatEndpoint } from './endpoints.js';
import { WgConfigError } from './errors.js';
import { decodeKey } from './keys.js';
import { MAX_MTU, MIN_MTU } from './tunnel/mtu.js';

export interface Cidr {
  /** i.e. `100.100.0.1` or `200::1`. */
  address: string;
  /** i.e. `32` for a single IPv4 address. */
  prefix: number;
  family: 4 | 6;
}

export interface WgEndpoint {
  /** An IP address (IPv6 without brackets) or a DNS name. */
  host: string;
  port: number;
}

export interface WgInterface {
  privateKey: string;
  addresses: Cidr[];
  listenPort?: number;
  mtu?: number;
}

export interface WgPeer {
  publicKey: string;
  presharedKey?: string;
  endpoint?: WgEndpoint;
  allowedIps: Cidr[];
  /** Seconds, 1-65535; absent or `off` means disabled. */
  persistentKeepalive?: number;
}

export interface WgConfig {
  interface: WgInterface;
  peers: WgPeer[];
}

const IGNORED_INTERFACE_KEYS = new Set([
  'dns',
  'table',
  'preup',
  'postup',
  'predown',
  'postdown',
  'saveconfig',
  'fwmark',
]);

export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0) return `${JSON.stringify(address)} is not an IP address`;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const p = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max)
    return `prefix length ${JSON.stringify(p)} must be 0-${max}`;
  return { address, prefix: Number(p), family };
}

function parseInteger(text: string, min: number, max: number): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

export function parseEndpoint(text: string): WgEndpoint | string {
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return `${JSON.stringify(text)} must be [IPv6]:port`;
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (!isIPv6(host)) return `${JSON.stringify(host)} in brackets is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return `${JSON.stringify(text)} has no port; expected host:port or [IPv6]:port`;
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host === '' || host.includes(':'))
      return `${JSON.stringify(text)}: put an IPv6 address in brackets, [addr]:port`;
  }
  const n = parseInteger(port, 1, 65535);
  if (n === undefined) return `port ${JSON.stringify(port)} must be 1-65535`;
  return { host, port: n };
}

/** Parses the text of a wg-quick file; `file` names it in errors (`file:line: ...`). */
export function parseWgConfig(text: string, file = 'wg-config'): WgConfig {
  let section: 'none' | 'interface' | 'peer' = 'none';
  const iface: Partial<WgInterface> & { addresses: Cidr[] } = { addresses: [] };
  let ifaceSeen = 0;
  let ifaceLine = 0;
  const peers: (Partial<WgPeer> & { allowedIps: Cidr[]; line: number })[] = [];
  const lines = text.split(/\r?\n/);
  const fail = (line: number, detail: string): never => {
    throw new WgConfigError(file, line, detail);
  };
  const parseLine = (raw: string, lineNo: number): void => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const header = /^\[(.*)\]$/.exec(line);
    if (header) {
      const name = header[1].trim().toLowerCase();
      if (name === 'interface') {
        if (++ifaceSeen > 1) fail(lineNo, 'a second [Interface] section; only one is allowed');
        ifaceLine = lineNo;
        section = 'interface';
      } else if (name === 'peer') {
        section = 'peer';
        peers.push({ allowedIps: [], line: lineNo });
      } else fail(lineNo, `unknown section [${header[1]}]; expected [Interface] or [Peer]`);
      return;
    }
    const eq = line.indexOf('=');
    if (eq < 0) fail(lineNo, `expected Key = Value, found ${JSON.stringify(line)}`);
    const keyText = line.slice(0, eq).trim();
    const key = keyText.toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (section === 'none') fail(lineNo, `${keyText} appears before any [Interface] or [Peer] section`);
    const list = () =>
      value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    const cidrs = (into: Cidr[]) => {
      for (const item of list()) {
        const c = parseCidr(item);
        if (typeof c === 'string') fail(lineNo, `${keyText}: ${c}`);
        else into.push(c);
      }
    };
    const checkedKey = (what: string) => {
      try {
        return decodeKey(value, `${keyText}`).toString('base64');
      } catch {
        return fail(lineNo, `${what} must be 44 characters of base64 (32 bytes), as from wg genkey`);
      }
    };
    if (section === 'interface') {
      switch (key) {
        case 'privatekey':
          iface.privateKey = checkedKey('PrivateKey');
          return;
        case 'address':
          cidrs(iface.addresses);
          return;
        case 'listenport': {
          const n = parseInteger(value, 0, 65535);
          if (n === undefined) fail(lineNo, `ListenPort ${JSON.stringify(value)} must be 0-65535`);
          iface.listenPort = n;
          return;
        }
        case 'mtu': {
          const n = parseInteger(value, MIN_MTU, MAX_MTU);
          if (n === undefined) fail(lineNo, `MTU ${JSON.stringify(value)} must be ${MIN_MTU}-${MAX_MTU}`);
          iface.mtu = n;
          return;
        }
        default:
          if (IGNORED_INTERFACE_KEYS.has(key)) return;
          fail(lineNo, `unknown [Interface] key ${keyText}; expected PrivateKey, Address, ListenPort or MTU`);
      }
    }
    const peer = peers[peers.length - 1];
    switch (key) {
      case 'publickey':
        peer.publicKey = checkedKey('PublicKey');
        return;
      case 'presharedkey':
        peer.presharedKey = checkedKey('PresharedKey');
        return;
      case 'endpoint': {
        const ep = parseEndpoint(value);
        if (typeof ep === 'string') fail(lineNo, `Endpoint ${ep}`);
        else peer.endpoint = ep;
        return;
      }
      case 'allowedips':
        cidrs(peer.allowedIps);
        return;
      case 'persistentkeepalive': {
        if (value.toLowerCase() === 'off') return;
        const n = parseInteger(value, 0, 65535);
        if (n === undefined)
          fail(lineNo, `PersistentKeepalive ${JSON.stringify(value)} must be 0-65535 or off`);
        if (n) peer.persistentKeepalive = n;
        return;
      }
      default:
        fail(
          lineNo,
          `unknown [Peer] key ${keyText}; expected PublicKey, PresharedKey, Endpoint, AllowedIPs or PersistentKeepalive`,
        );
    }
  };
  lines.forEach((raw, i) => {
    parseLine(raw, i + 1);
  });
  if (ifaceSeen === 0) fail(1, 'no [Interface] section');
  if (!iface.privateKey) fail(ifaceLine, '[Interface] has no PrivateKey');
  const seen = new Map<string, number>();
  const out: WgPeer[] = peers.map((p) => {
    if (!p.publicKey) return fail(p.line, '[Peer] has no PublicKey');
    const dup = seen.get(p.publicKey);
    if (dup !== undefined) fail(p.line, `[Peer] repeats the PublicKey of the peer on line ${dup}`);
    seen.set(p.publicKey, p.line);
    const peer: WgPeer = { publicKey: p.publicKey, allowedIps: p.allowedIps };
    if (p.presharedKey) peer.presharedKey = p.presharedKey;
    if (p.endpoint) peer.endpoint = p.endpoint;
    if (p.persistentKeepalive) peer.persistentKeepalive = p.persistentKeepalive;
    return peer;
  });
  const result: WgInterface = { privateKey: iface.privateKey!, addresses: iface.addresses };
  if (iface.listenPort !== undefined) result.listenPort = iface.listenPort;
  if (iface.mtu !== undefined) result.mtu = iface.mtu;
  return { interface: result, peers: out };
}

export async function loadWgConfig(path: string): Promise<WgConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new WgConfigError(path, 0, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseWgConfig(text, path);
}

/** The interface's addresses as plain lists, i.e. `{ ipv4: ['100.100.0.2'], ipv6: ['200::2'] }`. */
export function wgAddresses(cfg: WgConfig): { ipv4: string[]; ipv6: string[] } {
  return {
    ipv4: cfg.interface.addresses.filter((a) => a.family === 4).map((a) => a.address),
    ipv6: cfg.interface.addresses.filter((a) => a.family === 6).map((a) => a.address),
  };
}

/** The file's peers in the shape the peer reconciler and the engine use (endpoint as `host:port`). */
export function wgPeers(cfg: WgConfig): {
  publicKey: string;
  presharedKey?: string;
  endpoint?: string;
  allowedIps: string[];
  persistentKeepalive?: number;
}[] {
  return cfg.peers.map((p) => ({
    publicKey: p.publicKey,
    ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
    ...(p.endpoint ? { endpoint: formatEndpoint(p.endpoint.host, p.endpoint.port) } : {}),
    allowedIps: p.allowedIps.map((c) => `${c.address}/${c.prefix}`),
    ...(p.persistentKeepalive ? { persistentKeepalive: p.persistentKeepalive } : {}),
  }));
}
