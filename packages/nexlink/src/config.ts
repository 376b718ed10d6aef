// SPDX-License-Identifier: Apache-2.0
// nexlink's configuration: flags, or NEXLINK_* variables (what the Deployment sets from its Secret), checked
// once at start with messages that say what is expected. Pure: argv and env in, a Config or an error out.
import { Command, CommanderError } from 'commander';
import { NexlinkError } from './errors.js';
import { MAX_REPLICAS } from './export/spec.js';
import { isRealm } from './names.js';
import type { Credentials } from './proxy/workload.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Config {
  serviceUrl: string;
  /** How nexlink itself logs in. */
  login: { kind: 'password'; username: string; password: string } | { kind: 'reg-key'; regKey: string };
  /** How the proxies it creates log in: the same credentials, from the Secret nexlink's own come from. */
  proxyCredentials: Credentials;
  namespace: string;
  realm: string;
  replicas: number;
  proxyImage: string;
  clusterDomain: string;
  healthHost: string;
  healthPort: number;
  resyncMs: number;
  logLevel: string;
  caFile?: string;
  caSecret?: string;
  insecureSkipTlsVerify: boolean;
  /** The Lease that elects one active replica, i.e. `nexlink`; undefined: no leader election. */
  leaseName?: string;
}

export const DEFAULT_PROXY_IMAGE = 'localhost/nexodus-ts/nexd:0.1.0';
export const DEFAULT_REPLICAS = 2;
export const DEFAULT_RESYNC_S = 30;
export const DEFAULT_HEALTH_ADDR = ':8080';
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** [flag, env, argument, description]. */
const OPTIONS = [
  ['service-url', 'NEXLINK_SERVICE_URL', '<url>', 'URL of the Nexodus service, i.e. https://try.nexodus.io'],
  ['username', 'NEXLINK_USERNAME', '<name>', 'username for the password login'],
  ['password', 'NEXLINK_PASSWORD', '<password>', 'password for the password login'],
  ['reg-key', 'NEXLINK_REG_KEY', '<key>', 'a reusable registration key instead of a username and password'],
  [
    'credentials-secret',
    'NEXLINK_CREDENTIALS_SECRET',
    '<name>',
    'the Secret (keys username and password, or reg-key) the proxies log in with',
  ],
  ['namespace', 'NEXLINK_NAMESPACE', '<ns>', 'the namespace to watch (default: the Pod namespace)'],
  ['realm', 'NEXLINK_REALM', '<realm>', 'exports and imports of this realm (default: the namespace)'],
  ['replicas', 'NEXLINK_REPLICAS', '<n>', `proxies per export and import (default: ${DEFAULT_REPLICAS})`],
  ['proxy-image', 'NEXLINK_PROXY_IMAGE', '<image>', `the nexd image (default: ${DEFAULT_PROXY_IMAGE})`],
  ['cluster-domain', 'NEXLINK_CLUSTER_DOMAIN', '<domain>', 'the cluster DNS domain (default: cluster.local)'],
  [
    'health-addr',
    'NEXLINK_HEALTH_ADDR',
    '<host:port>',
    `/healthz and /metrics (default: ${DEFAULT_HEALTH_ADDR})`,
  ],
  ['resync', 'NEXLINK_RESYNC', '<seconds>', `reconcile everything this often (default: ${DEFAULT_RESYNC_S})`],
  ['log-level', 'NEXLINK_LOG_LEVEL', '<level>', `${LOG_LEVELS.join('|')} (default: info)`],
  ['ca-file', 'NEXLINK_CA_FILE', '<file>', 'PEM file with the CA that signed the service certificate'],
  ['ca-secret', 'NEXLINK_CA_SECRET', '<name>', 'a Secret with that CA as ca.crt, mounted into the proxies'],
  [
    'insecure-skip-tls-verify',
    'NEXLINK_INSECURE_SKIP_TLS_VERIFY',
    '',
    'do not verify the service certificate',
  ],
] as const;

type Name = (typeof OPTIONS)[number][0];

function bad(what: string, message: string): NexlinkError {
  return new NexlinkError('NEX_ERR_NEXLINK_CONFIG', `${what}: ${message}`);
}

function parsePort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const port = Number(addr.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw bad('--health-addr', `expected host:port or :port, i.e. :8080, got ${JSON.stringify(addr)}`);
  }
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port };
}

export function helpText(): string {
  return program().helpInformation();
}

function program(): Command {
  const p = new Command('nexlink')
    .description('links Kubernetes Services across clusters through a Nexodus VPC')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  for (const [flag, env, arg, desc] of OPTIONS) {
    p.option(`--${flag}${arg ? ` ${arg}` : ''}`, `${desc} [$${env}]`);
  }
  return p;
}

/**
 * The configuration from `argv` (without node and the script) and `env`; flags win over variables.
 * `podNamespace` is the namespace of nexlink's own Pod, if it runs in one.
 */
export function parseConfig(argv: string[], env: Env, podNamespace?: string): Config {
  const p = program();
  try {
    p.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw bad('arguments', err.message.replace(/^error: /, ''));
    throw err;
  }
  const flags = p.opts<Record<string, string | boolean | undefined>>();
  const get = (name: Name): string | undefined => {
    const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = flags[camel];
    if (typeof v === 'string') return v;
    if (v === true) return 'true';
    const e = OPTIONS.find((o) => o[0] === name)![1];
    return env[e] === '' ? undefined : env[e];
  };
  const leaseText = typeof flags.leaseName === 'string' ? flags.leaseName : env.NEXLINK_LEASE_NAME;
  const leaseName = leaseText === undefined ? 'nexlink' : leaseText;
  const serviceUrl = get('service-url');
  if (!serviceUrl || !/^https?:\/\//.test(serviceUrl)) {
    throw bad(
      '--service-url',
      `expected the Nexodus service URL (https://...), got ${JSON.stringify(serviceUrl ?? '')}`,
    );
  }
  const username = get('username');
  const password = get('password');
  const regKey = get('reg-key');
  let login: Config['login'];
  if (regKey !== undefined) {
    if (username !== undefined) throw bad('--reg-key', 'give a registration key or a username, not both');
    login = { kind: 'reg-key', regKey };
  } else if (username !== undefined && password !== undefined) {
    login = { kind: 'password', username, password };
  } else {
    throw bad(
      'credentials',
      'give --username and --password (NEXLINK_USERNAME/NEXLINK_PASSWORD) or --reg-key',
    );
  }
  const secret = get('credentials-secret');
  if (!secret) {
    throw bad(
      '--credentials-secret',
      'name the Secret the proxies log in with (keys username and password, or reg-key), i.e. nexodus-credentials',
    );
  }
  const proxyCredentials: Credentials =
    login.kind === 'password'
      ? { kind: 'password', secret, usernameKey: 'username', passwordKey: 'password' }
      : { kind: 'reg-key', secret, key: 'reg-key' };
  const namespace = get('namespace') ?? podNamespace;
  if (!namespace) throw bad('--namespace', 'not in a Pod: name the namespace to watch');
  const realm = get('realm') ?? namespace;
  if (!isRealm(realm)) {
    throw bad(
      '--realm',
      `expected a DNS label (lower-case letters, digits, '-'), got ${JSON.stringify(realm)}`,
    );
  }
  const replicasText = get('replicas') ?? String(DEFAULT_REPLICAS);
  const replicas = /^\d+$/.test(replicasText) ? Number(replicasText) : Number.NaN;
  if (!(replicas >= 1 && replicas <= MAX_REPLICAS)) {
    throw bad('--replicas', `expected 1 to ${MAX_REPLICAS}, got ${JSON.stringify(replicasText)}`);
  }
  const resyncText = get('resync') ?? String(DEFAULT_RESYNC_S);
  const resync = Number(resyncText);
  if (!(resync >= 1)) throw bad('--resync', `expected seconds >= 1, got ${JSON.stringify(resyncText)}`);
  const logLevel = get('log-level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw bad('--log-level', `expected one of ${LOG_LEVELS.join(', ')}`);
  const health = parsePort(get('health-addr') ?? DEFAULT_HEALTH_ADDR);
  const caFile = get('ca-file');
  const caSecret = get('ca-secret');
  return {
    serviceUrl,
    login,
    proxyCredentials,
    namespace,
    realm,
    replicas,
    proxyImage: get('proxy-image') ?? DEFAULT_PROXY_IMAGE,
    clusterDomain: get('cluster-domain') ?? 'cluster.local',
    healthHost: health.host,
    healthPort: health.port,
    resyncMs: resync * 1000,
    logLevel,
    ...(caFile ? { caFile } : {}),
    ...(caSecret ? { caSecret } : {}),
    insecureSkipTlsVerify: get('insecure-skip-tls-verify') === 'true',
    ...(leaseName ? { leaseName } : {}),
  };
}
