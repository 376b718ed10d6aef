// SPDX-License-Identifier: Apache-2.0
// Command-line and environment resolution for `nexd`: a pure function from (argv, env) to a typed command
// or a typed error, so every form in the scenario's manifests can be tested without starting anything.
// Forms: `nexd [globals] proxy [--ingress R]... [--egress R]... [URL]`, `nexd [globals] URL` (agent mode),
// `nexd version`. Globals may also come from NEXD_* variables; a flag beats its variable.
import { isIPv4, isIPv6 } from 'node:net';
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_STATE_DIR } from './control/protocol.js';
import { BadFlagError, type NexdError } from './errors.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import {
  formatRule,
  type ProxyRule,
  type ProxyType,
  parseRule,
  RuleParseError,
  ruleKey,
} from './proxy/rules.js';
import { closest } from './suggest.js';
import { MAX_MTU, MIN_MTU } from './tunnel/mtu.js';
import { NEXD_VERSION } from './version.js';

// Defined beside the control socket so that nexctl finds the same default without loading the daemon.
export { DEFAULT_STATE_DIR };
export const DEFAULT_DRAIN_SECONDS = 10;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface HostPort {
  host: string;
  port: number;
}

export interface GlobalConfig {
  /** i.e. `https://try.nexodus.io` (normalised by URL, so with a trailing slash). */
  serviceUrl?: string;
  username?: string;
  password?: string;
  regKey?: string;
  /** IPv4 address to ask IPAM for, i.e. `100.100.0.5`. */
  requestIp?: string;
  /**
   * WireGuard UDP port as asked for (`--listen-port`); 0 lets the system pick. Absent: the port kept in the
   * state from the last start, else 51820, else (when that is taken) any free port (see `listen-port.ts`).
   */
  listenPort?: number;
  /** Tunnel MTU as asked for (`--mtu`); absent: the underlay interface's MTU minus WireGuard's overhead. */
  mtu?: number;
  /** Register into this VPC instead of the user's default one (a UUID). */
  vpcId?: string;
  /** Register with this security group (a UUID of a group in the VPC). */
  securityGroupId?: string;
  /** Path of the control socket (default: `<state dir>/nexd.sock`). */
  unixSocket?: string;
  /** Registered as the local endpoint instead of the host's interface addresses, i.e. `127.0.0.1`. */
  localEndpointIp?: string;
  stateDir: string;
  /** `--state-dir` (or NEXD_STATE_DIR) was given: in a pod, keep the state in that directory, not a Secret. */
  stateDirGiven?: boolean;
  /** `--state-secret`: keep the state in this Kubernetes Secret, i.e. `nexd-proxy-state`. */
  stateSecret?: string;
  /** `--rules-configmap`: follow the proxy rules in this ConfigMap of nexd's namespace. */
  rulesConfigMap?: string;
  insecureSkipTlsVerify: boolean;
  caFile?: string;
  privateKeyFile?: string;
  /** Where /healthz, /readyz and /metrics are served, i.e. `{ host: '0.0.0.0', port: 8080 }`. */
  healthAddr?: HostPort;
  /** Standalone mode: peers and addresses from this wg-quick style file instead of the service. */
  wgConfig?: string;
  /** Agent mode: the TUN device's name, i.e. `wg0`. */
  tunnelIface?: string;
  logLevel: LogLevel;
  /** How long SIGTERM waits for open connections before closing them, in seconds. */
  drainSeconds: number;
  /**
   * STUN servers asked for this device's reflexive address, through the WireGuard socket. Absent = the
   * service's host on port 3478; empty = none (`--stun-server off`).
   */
  stunServers?: HostPort[];
  /** Reach peers only through the relay: no direct candidates are probed (`--relay-only`). */
  relayOnly?: boolean;
  /** DERP relay URLs to use besides those the service announces, i.e. `https://relay.example:8443/derp`. */
  relays?: string[];
}

export type NexdCommand =
  | { kind: 'proxy'; config: GlobalConfig; rules: ProxyRule[] }
  | { kind: 'agent'; config: GlobalConfig }
  | { kind: 'version' }
  | { kind: 'help'; text: string };

export type ResolveResult = { ok: true; command: NexdCommand } | { ok: false; error: NexdError };

export type Env = Readonly<Record<string, string | undefined>>;

/** Global flags and their environment variables. */
const GLOBALS = [
  ['service-url', 'NEXD_SERVICE_URL', '<url>', 'URL of the Nexodus service, i.e. https://try.nexodus.io'],
  ['username', 'NEXD_USERNAME', '<name>', 'username for the password login'],
  ['password', 'NEXD_PASSWORD', '<password>', 'password for the password login'],
  [
    'reg-key',
    'NEXD_REG_KEY',
    '<key>',
    'registration key (instead of a username and password); https://HOST#KEY also names the service',
  ],
  [
    'request-ip',
    'NEXD_REQUESTED_IP',
    '<ipv4>',
    'ask for this VPC IPv4 address (NEXD_REQUEST_IP is read too)',
  ],
  [
    'listen-port',
    'NEXD_LISTEN_PORT',
    '<port>',
    'WireGuard UDP port (default: the port of the last start, else 51820, else any free port; 0: any)',
  ],
  [
    'mtu',
    'NEXD_MTU',
    '<bytes>',
    `tunnel MTU (default: the underlay interface's MTU minus WireGuard's 80 bytes, at most 1420)`,
  ],
  ['vpc-id', 'NEXD_VPC_ID', '<uuid>', "register into this VPC (default: the user's default VPC)"],
  [
    'security-group-id',
    'NEXD_SECURITY_GROUP_ID',
    '<uuid>',
    "register with this security group (default: the VPC's default group)",
  ],
  ['unix-socket', 'NEXD_UNIX_SOCKET', '<path>', 'control socket path (default: <state dir>/nexd.sock)'],
  [
    'local-endpoint-ip',
    'NEXD_LOCAL_ENDPOINT_IP',
    '<ip>',
    "register this address as the endpoint instead of the host's addresses (i.e. 127.0.0.1 on one machine)",
  ],
  [
    'state-dir',
    'NEXD_STATE_DIR',
    '<dir>',
    `directory for keys, tokens, runtime rules and the control socket (default: ${DEFAULT_STATE_DIR})`,
  ],
  [
    'state-secret',
    'NEXD_STATE_SECRET',
    '<name>',
    "keep the state in this Kubernetes Secret (default in a pod: a Secret named after the pod's workload)",
  ],
  [
    'rules-configmap',
    'NEXD_RULES_CONFIGMAP',
    '<name>',
    'also apply the proxy rules in this Kubernetes ConfigMap (keys ingress and egress, a rule per line), following its changes live',
  ],
  [
    'insecure-skip-tls-verify',
    'NEXD_INSECURE_SKIP_TLS_VERIFY',
    '',
    'do not verify the service certificate (testing only)',
  ],
  ['ca-file', 'NEXD_CA_FILE', '<file>', 'PEM file with the CA that signed the service certificate'],
  [
    'private-key-file',
    'NEXD_PRIVATE_KEY_FILE',
    '<file>',
    'WireGuard private key (default: /private.key, else the state dir)',
  ],
  ['health-addr', 'NEXD_HEALTH_ADDR', '<host:port>', 'serve /healthz, /readyz and /metrics here, i.e. :8080'],
  [
    'wg-config',
    'NEXD_WG_CONFIG',
    '<file>',
    'standalone mode: peers and addresses from a wg-quick style file, no service',
  ],
  [
    'tunnel-iface',
    'NEXD_TUNNEL_IFACE',
    '<name>',
    'agent mode: name of the TUN device carrying the tunnel (default: wg0)',
  ],
  ['log-level', 'NEXD_LOG_LEVEL', '<level>', `${LOG_LEVELS.join('|')} (default: info)`],
  [
    'stun-server',
    'NEXD_STUN_SERVER',
    '<host:port>',
    "STUN server for this device's reflexive address (repeatable; off = none; default: the service's host:3478)",
  ],
  [
    'relay',
    'NEXD_RELAY',
    '<url>',
    'DERP relay to use besides those the service announces, i.e. https://relay.example:8443/derp (repeatable; every relay is connected, up to 8)',
  ],
  ['relay-only', 'NEXD_RELAY_ONLY', '', 'reach peers only through the relay (no direct paths)'],
  [
    'drain-timeout',
    'NEXD_DRAIN_TIMEOUT',
    '<seconds>',
    `on SIGTERM, wait this long for open connections (default: ${DEFAULT_DRAIN_SECONDS})`,
  ],
] as const;

type GlobalName = (typeof GLOBALS)[number][0];
/** Globals that may be given more than once; their variable holds a comma-separated list. */
const REPEATABLE = new Set<string>(['stun-server', 'relay']);

const EXAMPLES = `
Examples:
  nexd --service-url https://try.nexodus.io proxy --ingress tcp:80:nginx-service.demo1.svc.cluster.local:80
  nexd proxy --egress tcp:80:100.100.0.1:80 https://try.nexodus.io
  NEXD_USERNAME=admin NEXD_PASSWORD=secret nexd proxy --ingress udp:53:[fd00::53]:53 https://nexodus.example
  nexd --wg-config wg0.conf proxy --ingress tcp:8080:127.0.0.1:80
  sudo nexd --tunnel-iface wg0 https://try.nexodus.io      (agent mode: a TUN device, needs root)

Proxy rules are protocol:port:destination:destination_port (protocol tcp or udp; IPv6 destinations in
brackets; destinations may be DNS names, resolved for every new connection). Rules sharing a type,
protocol and port are balanced round-robin.`;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function buildProgram(out: { text: string }, captured: { action?: 'proxy' | 'agent' | 'version' }): Command {
  const program = new Command('nexd')
    .description('Nexodus device daemon: joins this machine (or pod) to a Nexodus VPC')
    .usage('[global options] [command] [service-url]')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => {
        out.text += s;
      },
      writeErr: (s) => {
        out.text += s;
      },
      outputError: () => {},
    })
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, helpWidth: 110 })
    .helpOption('-h, --help', 'show this help')
    // The program has its own action (agent mode), which makes commander leave out `help`: add it back.
    .helpCommand('help [command]', 'show help for a command')
    .version(NEXD_VERSION, '-V, --version', 'print the version')
    .argument('[service-url]', 'service URL (agent mode; also accepted as --service-url)')
    .action(() => {
      captured.action = 'agent';
    });
  for (const [name, env, arg, description] of GLOBALS) {
    const o = new Option(`--${name}${arg ? ` ${arg}` : ''}`, `${description} [env: ${env}]`);
    if (REPEATABLE.has(name)) o.argParser(collect);
    program.addOption(o);
  }
  program.addHelpText('after', EXAMPLES);
  program
    .command('proxy')
    .description('run as a userspace L4 proxy: no privileges, no network device')
    .usage('[options] [service-url]')
    .argument('[service-url]', 'service URL (same as the global --service-url)')
    .option(
      '--ingress <rule>',
      'forward connections from the VPC to a local destination (repeatable)',
      collect,
      [],
    )
    .option(
      '--egress <rule>',
      'forward local connections to a destination in the VPC (repeatable)',
      collect,
      [],
    )
    .addHelpText('after', EXAMPLES)
    .action(() => {
      captured.action = 'proxy';
    });
  program
    .command('version')
    .description('print the version')
    .action(() => {
      captured.action = 'version';
    });
  return program;
}

function parseHostPort(flag: string, text: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  const host = m ? (m[1] ?? m[2]) : '';
  if (!m || port < 1 || port > 65535 || (m[1] !== undefined && !isIPv6(host))) {
    throw new BadFlagError(
      flag,
      `${flag} ${JSON.stringify(text)} is not host:port; expected i.e. :8080, 0.0.0.0:8080 or [::1]:8080`,
    );
  }
  return { host: host === '' ? '::' : host, port };
}

function parsePort(flag: string, text: string, min: number): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < min || Number(text) > 65535) {
    throw new BadFlagError(
      flag,
      `${flag} ${JSON.stringify(text)} is not a port; expected a number ${min}-65535`,
    );
  }
  return Number(text);
}

function parseServiceUrl(flag: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BadFlagError(
      flag,
      `${flag} ${JSON.stringify(text)} is not a URL; expected i.e. https://try.nexodus.io`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new BadFlagError(flag, `${flag} ${JSON.stringify(text)} must be an https:// (or http://) URL`);
  }
  // Keep the path (a service behind a prefix) but drop the trailing slash URL() adds to a bare origin.
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** A Kubernetes object name (a DNS subdomain, RFC 1123): the API server would refuse anything else. */
function kubeObjectName(flag: { value: string; source: string }, kind: string, example: string): string {
  const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (flag.value.length > 253 || !flag.value.split('.').every((l) => label.test(l))) {
    throw new BadFlagError(
      flag.source,
      `${flag.source} ${JSON.stringify(flag.value)} is not a ${kind} name; expected lower-case letters, digits, '-' and '.', i.e. ${example}`,
    );
  }
  return flag.value;
}

function parseBool(flag: string, text: string): boolean {
  const t = text.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(t)) return false;
  throw new BadFlagError(flag, `${flag} ${JSON.stringify(text)} is not a boolean; expected true or false`);
}

/** Older environment names still read (after the documented one): our first releases said NEXD_REQUEST_IP. */
const ENV_ALIASES: Partial<Record<GlobalName, readonly string[]>> = { 'request-ip': ['NEXD_REQUEST_IP'] };

/**
 * `https://HOST#KEY`, as the original prints a registration key for `nexd --reg-key`: the service URL and the
 * key in one. Undefined for a bare key.
 */
export function splitRegKeyUrl(text: string): { serviceUrl: string; key: string } | undefined {
  if (!/^https?:\/\//i.test(text)) return undefined;
  const hash = text.indexOf('#');
  if (hash < 0) return undefined;
  let key = text.slice(hash + 1);
  try {
    key = decodeURIComponent(key);
  } catch {
    // not percent-encoded: the key as written
  }
  return { serviceUrl: text.slice(0, hash), key };
}

/** Resolves a command line (without `node` and the script) and an environment into a command. */
export function resolveNexdArgs(argv: readonly string[], env: Env): ResolveResult {
  const out = { text: '' };
  const captured: { action?: 'proxy' | 'agent' | 'version' } = {};
  const program = buildProgram(out, captured);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') {
      return { ok: true, command: { kind: 'help', text: out.text } };
    }
    if (err.code === 'commander.version') return { ok: true, command: { kind: 'version' } };
    const message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
    const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? 'command line';
    return { ok: false, error: new BadFlagError(flag, `${message} (see nexd --help)`) };
  }
  try {
    return { ok: true, command: interpret(program, captured.action ?? 'agent', env) };
  } catch (err) {
    if (err instanceof BadFlagError || err instanceof RuleParseError) return { ok: false, error: err };
    throw err;
  }
}

function interpret(program: Command, action: 'proxy' | 'agent' | 'version', env: Env): NexdCommand {
  if (action === 'version') return { kind: 'version' };
  const opts = program.opts<Record<string, string | boolean | undefined>>();
  /** The value of a global and where it came from (flag beats environment). */
  const get = (name: GlobalName): { value: string; source: string } | undefined => {
    const key = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = opts[key];
    if (v !== undefined) return { value: v === true ? 'true' : String(v), source: `--${name}` };
    const envName = GLOBALS.find((g) => g[0] === name)![1];
    for (const n of [envName, ...(ENV_ALIASES[name] ?? [])]) {
      const e = env[n];
      if (e !== undefined && e !== '') return { value: e, source: n };
    }
    return undefined;
  };
  /** A repeatable global: every flag value, else the variable's comma-separated values. */
  const getList = (name: GlobalName): { values: string[]; source: string } | undefined => {
    const key = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = opts[key] as unknown;
    if (Array.isArray(v) && v.length > 0) return { values: v.map(String), source: `--${name}` };
    const envName = GLOBALS.find((g) => g[0] === name)![1];
    const e = env[envName];
    if (e !== undefined && e.trim() !== '')
      return {
        values: e
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
        source: envName,
      };
    return undefined;
  };
  const config: GlobalConfig = {
    stateDir: get('state-dir')?.value ?? DEFAULT_STATE_DIR,
    insecureSkipTlsVerify: false,
    logLevel: 'info',
    drainSeconds: DEFAULT_DRAIN_SECONDS,
  };
  if (get('state-dir')) config.stateDirGiven = true;
  const secret = get('state-secret');
  if (secret) config.stateSecret = kubeObjectName(secret, 'Secret', 'nexd-proxy-state');
  const rulesConfigMap = get('rules-configmap');
  if (rulesConfigMap) config.rulesConfigMap = kubeObjectName(rulesConfigMap, 'ConfigMap', 'nexd-proxy-rules');
  const insecure = get('insecure-skip-tls-verify');
  if (insecure) config.insecureSkipTlsVerify = parseBool(insecure.source, insecure.value);
  for (const [name, field] of [
    ['username', 'username'],
    ['password', 'password'],
    ['reg-key', 'regKey'],
    ['ca-file', 'caFile'],
    ['private-key-file', 'privateKeyFile'],
    ['wg-config', 'wgConfig'],
    ['unix-socket', 'unixSocket'],
  ] as const) {
    const v = get(name);
    if (v) config[field] = v.value;
  }
  const relayOnly = get('relay-only');
  if (relayOnly) config.relayOnly = parseBool(relayOnly.source, relayOnly.value);
  const stun = getList('stun-server');
  if (stun) {
    config.stunServers =
      stun.values.length === 1 && ['off', 'none'].includes(stun.values[0]!)
        ? []
        : stun.values.map((v) => parseHostPort(stun.source, v));
  }
  const relays = getList('relay');
  if (relays) {
    config.relays = relays.values.map((v) => {
      let u: URL | undefined;
      try {
        u = new URL(v);
      } catch {
        u = undefined;
      }
      if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
        throw new BadFlagError(
          relays.source,
          `${relays.source} ${JSON.stringify(v)} is not a relay URL; expected i.e. https://relay.example:8443/derp`,
        );
      }
      return u.href;
    });
  }
  const requestIp = get('request-ip');
  if (requestIp) {
    if (!isIPv4(requestIp.value)) {
      throw new BadFlagError(
        requestIp.source,
        `${requestIp.source} ${JSON.stringify(requestIp.value)} is not an IPv4 address; expected i.e. 100.100.0.5`,
      );
    }
    config.requestIp = requestIp.value;
  }
  const endpointIp = get('local-endpoint-ip');
  if (endpointIp) {
    if (!isIPv4(endpointIp.value) && !isIPv6(endpointIp.value)) {
      throw new BadFlagError(
        endpointIp.source,
        `${endpointIp.source} ${JSON.stringify(endpointIp.value)} is not an IP address; expected i.e. 198.18.0.2`,
      );
    }
    config.localEndpointIp = endpointIp.value;
  }
  const listenPort = get('listen-port');
  if (listenPort) config.listenPort = parsePort(listenPort.source, listenPort.value, 0);
  const mtu = get('mtu');
  if (mtu) {
    if (!/^[0-9]{1,5}$/.test(mtu.value) || Number(mtu.value) < MIN_MTU || Number(mtu.value) > MAX_MTU) {
      throw new BadFlagError(
        mtu.source,
        `${mtu.source} ${JSON.stringify(mtu.value)} is not an MTU; expected a number of bytes ${MIN_MTU}-${MAX_MTU}, i.e. 1420`,
      );
    }
    config.mtu = Number(mtu.value);
  }
  for (const [name, field] of [
    ['vpc-id', 'vpcId'],
    ['security-group-id', 'securityGroupId'],
  ] as const) {
    const v = get(name);
    if (!v) continue;
    if (!UUID.test(v.value)) {
      throw new BadFlagError(
        v.source,
        `${v.source} ${JSON.stringify(v.value)} is not an id; expected a UUID as nexctl prints it, i.e. 0a1b2c3d-0000-4000-8000-000000000000`,
      );
    }
    config[field] = v.value.toLowerCase();
  }
  const iface = get('tunnel-iface');
  if (iface) {
    // Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace.
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface.value) || iface.value === '.' || iface.value === '..') {
      throw new BadFlagError(
        iface.source,
        `${iface.source} ${JSON.stringify(iface.value)} is not an interface name; expected 1-15 letters, digits, '_', '.' or '-', i.e. wg0`,
      );
    }
    config.tunnelIface = iface.value;
  }
  const health = get('health-addr');
  if (health) config.healthAddr = parseHostPort(health.source, health.value);
  const level = get('log-level');
  if (level) {
    if (!(LOG_LEVELS as readonly string[]).includes(level.value)) {
      throw new BadFlagError(
        level.source,
        `${level.source} ${JSON.stringify(level.value)} is not a log level; expected one of ${LOG_LEVELS.join(', ')}`,
      );
    }
    config.logLevel = level.value as LogLevel;
  }
  const drain = get('drain-timeout');
  if (drain) {
    if (!/^[0-9]{1,4}$/.test(drain.value)) {
      throw new BadFlagError(
        drain.source,
        `${drain.source} ${JSON.stringify(drain.value)} is not a number of seconds (0-9999)`,
      );
    }
    config.drainSeconds = Number(drain.value);
  }
  if ((config.username === undefined) !== (config.password === undefined)) {
    const missing =
      config.username === undefined ? '--username (NEXD_USERNAME)' : '--password (NEXD_PASSWORD)';
    throw new BadFlagError(
      missing.split(' ')[0],
      `a username and a password go together: ${missing} is missing`,
    );
  }
  const sub = action === 'proxy' ? program.commands.find((c) => c.name() === 'proxy')! : program;
  const rules: ProxyRule[] = [];
  if (action === 'proxy') {
    const p = sub.opts<{ ingress?: string[]; egress?: string[] }>();
    const seen = new Set<string>();
    for (const [type, texts] of [
      ['ingress', p.ingress ?? []],
      ['egress', p.egress ?? []],
    ] as [ProxyType, string[]][]) {
      for (const t of texts) {
        const rule = parseRule(type, t);
        if (seen.has(ruleKey(rule)))
          throw new BadFlagError(`--${type}`, `--${type} ${formatRule(rule)} is given twice`);
        seen.add(ruleKey(rule));
        rules.push(rule);
      }
    }
  }
  // The service URL: --service-url / NEXD_SERVICE_URL, or the positional argument of proxy or of nexd itself.
  const positional = sub.args[0] as string | undefined;
  const flagUrl = get('service-url');
  if (flagUrl) config.serviceUrl = parseServiceUrl(flagUrl.source, flagUrl.value);
  if (positional !== undefined) {
    if (!positional.includes('://')) {
      const near = closest(positional, ['proxy', 'version', 'help']);
      throw new BadFlagError(
        'service URL argument',
        `${JSON.stringify(positional)} is neither a command (proxy, version, help) nor a service URL like https://try.nexodus.io` +
          (near ? `; did you mean ${near}?` : ''),
      );
    }
    const u = parseServiceUrl('service URL argument', positional);
    if (config.serviceUrl !== undefined && config.serviceUrl !== u) {
      throw new BadFlagError(
        'service-url',
        `the service URL argument ${positional} differs from ${flagUrl!.source} ${flagUrl!.value}; give one`,
      );
    }
    config.serviceUrl = u;
  }
  // A registration key given as https://HOST#KEY names the service too; a service URL with a #KEY carries a key.
  const regKeyFlag = get('reg-key');
  const keyUrl = regKeyFlag ? splitRegKeyUrl(regKeyFlag.value) : undefined;
  if (regKeyFlag && keyUrl) {
    if (keyUrl.key === '') {
      throw new BadFlagError(
        regKeyFlag.source,
        `${regKeyFlag.source} ${JSON.stringify(regKeyFlag.value)} has no key after the #; expected https://HOST#KEY or the key alone`,
      );
    }
    const u = parseServiceUrl(regKeyFlag.source, keyUrl.serviceUrl);
    if (config.serviceUrl !== undefined && config.serviceUrl !== u) {
      throw new BadFlagError(
        regKeyFlag.source,
        `${regKeyFlag.source} names the service ${u}, but the service URL is ${config.serviceUrl}; give one`,
      );
    }
    config.serviceUrl = u;
    config.regKey = keyUrl.key;
  } else if (config.regKey === undefined) {
    const given = positional ?? flagUrl?.value;
    const fromUrl = given !== undefined ? splitRegKeyUrl(given) : undefined;
    if (fromUrl && fromUrl.key !== '') config.regKey = fromUrl.key;
  }
  if (config.wgConfig !== undefined && config.serviceUrl !== undefined) {
    throw new BadFlagError(
      '--wg-config',
      '--wg-config runs standalone without the service; drop either it or the service URL',
    );
  }
  if (config.wgConfig === undefined && config.serviceUrl === undefined) {
    const how = action === 'proxy' ? 'nexd proxy [rules] https://...' : 'nexd https://...';
    throw new BadFlagError(
      '--service-url',
      `no service URL: pass it as an argument (${how}), with --service-url or NEXD_SERVICE_URL, or use --wg-config`,
    );
  }
  if (action === 'agent') return { kind: 'agent', config };
  return { kind: 'proxy', config, rules };
}
