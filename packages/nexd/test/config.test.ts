// SPDX-License-Identifier: Apache-2.0
// resolveNexdArgs is pure: (argv, env) -> command or typed error. The scenario's manifests come first.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Env, type GlobalConfig, type NexdCommand, resolveNexdArgs } from '../src/config.js';

function ok(argv: string[], env: Env = {}): NexdCommand {
  const r = resolveNexdArgs(argv, env);
  if (!r.ok) assert.fail(`expected success for ${argv.join(' ')}, got ${r.error.code}: ${r.error.message}`);
  return r.command;
}

function proxy(argv: string[], env: Env = {}): { config: GlobalConfig; rules: string[] } {
  const c = ok(argv, env);
  assert.equal(c.kind, 'proxy');
  if (c.kind !== 'proxy') throw new Error('unreachable');
  return {
    config: c.config,
    rules: c.rules.map(
      (r) => `${r.type} ${r.protocol}:${r.listenPort}:${r.destination.host}:${r.destination.port}`,
    ),
  };
}

function fails(argv: string[], env: Env, code: string, message: RegExp): void {
  const r = resolveNexdArgs(argv, env);
  assert.equal(r.ok, false, `expected failure for ${JSON.stringify(argv)}`);
  if (r.ok) return;
  assert.equal(r.error.code, code);
  assert.match(r.error.message, message);
}

const CREDS = { NEXD_USERNAME: 'username', NEXD_PASSWORD: 'password' };

describe('the scenario command lines, unchanged', () => {
  test('demo 1 manifest: rule then positional service URL, credentials from env', () => {
    const p = proxy(
      [
        'proxy',
        '--ingress',
        'tcp:80:nginx-service.nexd-proxy-demo1.svc.cluster.local:80',
        'https://try.nexodus.io',
      ],
      CREDS,
    );
    assert.deepEqual(p.rules, ['ingress tcp:80:nginx-service.nexd-proxy-demo1.svc.cluster.local:80']);
    assert.equal(p.config.serviceUrl, 'https://try.nexodus.io');
    assert.equal(p.config.username, 'username');
    assert.equal(p.config.password, 'password');
    assert.equal(p.config.stateDir, '/var/lib/nexd');
  });

  test('demo 1 prose: global --service-url before the subcommand', () => {
    const p = proxy([
      '--service-url',
      'https://try.nexodus.io',
      'proxy',
      '--ingress',
      'tcp:80:nginx-service.nexd-proxy-demo1.svc.cluster.local:80',
    ]);
    assert.equal(p.config.serviceUrl, 'https://try.nexodus.io');
    assert.equal(p.rules.length, 1);
  });

  test('demo 2 manifest: --service-url then proxy --egress', () => {
    const p = proxy(
      ['--service-url', 'https://try.nexodus.io', 'proxy', '--egress', 'tcp:80:100.100.0.1:80'],
      CREDS,
    );
    assert.deepEqual(p.rules, ['egress tcp:80:100.100.0.1:80']);
  });

  test('demo 2 prose: `nexd proxy --egress tcp:80:100.100.0.1:80` with the URL from NEXD_SERVICE_URL', () => {
    const p = proxy(['proxy', '--egress', 'tcp:80:100.100.0.1:80'], {
      NEXD_SERVICE_URL: 'https://try.nexodus.io',
    });
    assert.equal(p.config.serviceUrl, 'https://try.nexodus.io');
  });
});

describe('globals, environment and precedence', () => {
  test('every global as a flag', () => {
    const { config } = proxy([
      '--username=u',
      '--password',
      'p',
      '--reg-key',
      'rk',
      '--request-ip',
      '100.100.0.9',
      '--listen-port',
      '51820',
      '--state-dir',
      '/tmp/nexd-x',
      '--state-secret',
      'nexd-proxy-state',
      '--insecure-skip-tls-verify',
      '--ca-file',
      '/ca.pem',
      '--private-key-file',
      '/k',
      '--health-addr',
      ':8080',
      '--log-level',
      'debug',
      '--drain-timeout',
      '3',
      'proxy',
      'http://127.0.0.1:8080/base/',
    ]);
    assert.deepEqual(config, {
      serviceUrl: 'http://127.0.0.1:8080/base',
      username: 'u',
      password: 'p',
      regKey: 'rk',
      requestIp: '100.100.0.9',
      listenPort: 51820,
      stateDir: '/tmp/nexd-x',
      stateDirGiven: true,
      stateSecret: 'nexd-proxy-state',
      insecureSkipTlsVerify: true,
      caFile: '/ca.pem',
      privateKeyFile: '/k',
      healthAddr: { host: '::', port: 8080 },
      logLevel: 'debug',
      drainSeconds: 3,
    });
  });

  test('every global as NEXD_* and a flag beating its variable', () => {
    const env = {
      NEXD_SERVICE_URL: 'https://a.example',
      NEXD_REG_KEY: 'rk',
      NEXD_REQUEST_IP: '100.100.0.3',
      NEXD_LISTEN_PORT: '0',
      NEXD_STATE_DIR: '/env/state',
      NEXD_INSECURE_SKIP_TLS_VERIFY: 'true',
      NEXD_CA_FILE: '/env/ca',
      NEXD_PRIVATE_KEY_FILE: '/env/k',
      NEXD_HEALTH_ADDR: '[::1]:9090',
      NEXD_LOG_LEVEL: 'warn',
      NEXD_DRAIN_TIMEOUT: '0',
      ...CREDS,
    };
    const { config } = proxy(['--state-dir', '/flag/state', 'proxy'], env);
    assert.equal(config.stateDir, '/flag/state');
    assert.equal(config.serviceUrl, 'https://a.example');
    assert.equal(config.listenPort, 0);
    assert.equal(config.insecureSkipTlsVerify, true);
    assert.deepEqual(config.healthAddr, { host: '::1', port: 9090 });
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.drainSeconds, 0);
    assert.equal(config.requestIp, '100.100.0.3');
  });

  test('globals may also follow the subcommand', () => {
    const { config } = proxy([
      'proxy',
      '--state-dir',
      '/s',
      '--ingress',
      'udp:53:[fd00::53]:53',
      'https://x.example',
    ]);
    assert.equal(config.stateDir, '/s');
  });

  test('repeatable rules keep their order, ingress before egress', () => {
    const { rules } = proxy([
      'proxy',
      '--egress',
      'tcp:5432:db.example:5432',
      '--ingress',
      'tcp:80:a:80',
      '--ingress',
      'tcp:80:b:80',
      'https://x.example',
    ]);
    assert.deepEqual(rules, [
      'ingress tcp:80:a:80',
      'ingress tcp:80:b:80',
      'egress tcp:5432:db.example:5432',
    ]);
  });

  test('standalone --wg-config needs no service URL', () => {
    const { config } = proxy(['--wg-config', '/etc/wg0.conf', 'proxy', '--ingress', 'tcp:8080:127.0.0.1:80']);
    assert.equal(config.wgConfig, '/etc/wg0.conf');
    assert.equal(config.serviceUrl, undefined);
  });

  test('version, --version, help', () => {
    assert.deepEqual(ok(['version']), { kind: 'version' });
    assert.deepEqual(ok(['--version']), { kind: 'version' });
    const help = ok(['--help']);
    assert.equal(help.kind, 'help');
    if (help.kind !== 'help') return;
    for (const s of [
      '--service-url',
      '[env: NEXD_USERNAME]',
      'proxy',
      'version',
      'Examples:',
      'protocol:port:destination:destination_port',
    ]) {
      assert.ok(help.text.includes(s), `help mentions ${s}`);
    }
    const viaCommand = ok(['help', 'proxy']);
    assert.ok(viaCommand.kind === 'help' && viaCommand.text.startsWith('Usage: nexd proxy'));
    const sub = ok(['proxy', '--help']);
    assert.ok(
      sub.kind === 'help' && sub.text.includes('--ingress <rule>') && sub.text.includes('Global Options'),
    );
  });

  test('agent mode: nexd URL', () => {
    const c = ok(['https://try.nexodus.io']);
    assert.equal(c.kind, 'agent');
  });

  test('agent mode: --tunnel-iface / NEXD_TUNNEL_IFACE name the TUN device; bad names are refused', () => {
    const c = ok(['--tunnel-iface', 'nexodus0', 'https://try.nexodus.io']);
    assert.ok(c.kind === 'agent' && c.config.tunnelIface === 'nexodus0');
    const e = ok(['https://try.nexodus.io'], { NEXD_TUNNEL_IFACE: 'wg7' });
    assert.ok(e.kind === 'agent' && e.config.tunnelIface === 'wg7');
    for (const bad of ['a-name-longer-than-15', 'wg/0', 'wg 0', '..']) {
      const r = resolveNexdArgs(['--tunnel-iface', bad, 'https://try.nexodus.io'], {});
      assert.ok(!r.ok && r.error.code === 'NEX_ERR_BAD_FLAG', bad);
      assert.match(r.error.message, /is not an interface name; expected 1-15/);
    }
  });
});

describe('bad command lines: a typed error naming the bad part', () => {
  const cases: [string, string[], Env, string, RegExp][] = [
    [
      'unknown flag',
      ['--bogus', 'proxy'],
      {},
      'NEX_ERR_BAD_FLAG',
      /unknown option '--bogus' \(see nexd --help\)/,
    ],
    ['misspelt rule flag', ['proxy', '--ingres', 'x'], {}, 'NEX_ERR_BAD_FLAG', /Did you mean --ingress\?/],
    ['flag missing its value', ['proxy', '--ingress'], {}, 'NEX_ERR_BAD_FLAG', /argument missing/],
    [
      'bad rule',
      ['proxy', '--ingress', 'tcp:80:x', 'https://a'],
      {},
      'NEX_ERR_PROXY_RULE',
      /invalid ingress rule "tcp:80:x": it has only 3 of 4 parts/,
    ],
    [
      'bad egress rule port',
      ['proxy', '--egress', 'tcp:0:a:80', 'https://a'],
      {},
      'NEX_ERR_PROXY_RULE',
      /invalid egress rule .*port 0 is out of range/,
    ],
    [
      'duplicate rule',
      ['proxy', '--egress', 'tcp:80:a:80', '--egress', 'TCP:80:a:80', 'https://a'],
      {},
      'NEX_ERR_BAD_FLAG',
      /--egress tcp:80:a:80 is given twice/,
    ],
    [
      'no service URL',
      ['proxy', '--egress', 'tcp:80:a:80'],
      {},
      'NEX_ERR_BAD_FLAG',
      /no service URL: pass it as an argument/,
    ],
    [
      'not a URL',
      ['--service-url', 'try.nexodus.io', 'proxy'],
      {},
      'NEX_ERR_BAD_FLAG',
      /--service-url "try.nexodus.io" is not a URL/,
    ],
    ['ftp URL', ['proxy', 'ftp://x'], {}, 'NEX_ERR_BAD_FLAG', /must be an https:\/\/ \(or http:\/\/\) URL/],
    [
      'two different URLs',
      ['--service-url', 'https://a', 'proxy', 'https://b'],
      {},
      'NEX_ERR_BAD_FLAG',
      /differs from --service-url/,
    ],
    [
      'unknown command',
      ['prox'],
      {},
      'NEX_ERR_BAD_FLAG',
      /"prox" is neither a command \(proxy, version, help\) nor a service URL/,
    ],
    ['mistyped command', ['prxy'], {}, 'NEX_ERR_BAD_FLAG', /"prxy" is neither .*; did you mean proxy\?/],
    ['mistyped version', ['verison'], {}, 'NEX_ERR_BAD_FLAG', /did you mean version\?/],
    ['extra argument', ['proxy', 'https://a', 'https://b'], {}, 'NEX_ERR_BAD_FLAG', /too many arguments/],
    [
      'bad listen port',
      ['--listen-port', '70000', 'proxy', 'https://a'],
      {},
      'NEX_ERR_BAD_FLAG',
      /--listen-port "70000" is not a port; expected a number 0-65535/,
    ],
    [
      'bad env listen port',
      ['proxy', 'https://a'],
      { NEXD_LISTEN_PORT: 'abc' },
      'NEX_ERR_BAD_FLAG',
      /NEXD_LISTEN_PORT "abc" is not a port/,
    ],
    [
      'bad request ip',
      ['--request-ip', '200::1', 'proxy', 'https://a'],
      {},
      'NEX_ERR_BAD_FLAG',
      /--request-ip "200::1" is not an IPv4 address/,
    ],
    [
      'bad health addr',
      ['--health-addr', '8080', 'proxy', 'https://a'],
      {},
      'NEX_ERR_BAD_FLAG',
      /--health-addr "8080" is not host:port/,
    ],
    [
      'bad log level',
      ['proxy', 'https://a'],
      { NEXD_LOG_LEVEL: 'loud' },
      'NEX_ERR_BAD_FLAG',
      /NEXD_LOG_LEVEL "loud" is not a log level; expected one of fatal/,
    ],
    [
      'bad boolean',
      ['proxy', 'https://a'],
      { NEXD_INSECURE_SKIP_TLS_VERIFY: 'maybe' },
      'NEX_ERR_BAD_FLAG',
      /is not a boolean/,
    ],
    [
      'username without password',
      ['proxy', 'https://a'],
      { NEXD_USERNAME: 'u' },
      'NEX_ERR_BAD_FLAG',
      /--password \(NEXD_PASSWORD\) is missing/,
    ],
    [
      'wg-config and URL',
      ['--wg-config', 'w', 'proxy', 'https://a'],
      {},
      'NEX_ERR_BAD_FLAG',
      /--wg-config runs standalone/,
    ],
    [
      'bad drain timeout',
      ['--drain-timeout', '-1', 'proxy', 'https://a'],
      {},
      'NEX_ERR_BAD_FLAG',
      /not a number of seconds/,
    ],
  ];
  for (const [what, argv, env, code, message] of cases) {
    test(what, () => fails(argv, env, code, message));
  }
});

describe('reachability flags (issue 13)', () => {
  const URL = 'https://svc.example';
  test('--stun-server is repeatable; off means none; absent leaves the default to the service host', () => {
    const p = proxy([
      '--stun-server',
      '198.51.100.1:3478',
      '--stun-server',
      'stun.example:3479',
      'proxy',
      URL,
    ]);
    assert.deepEqual(p.config.stunServers, [
      { host: '198.51.100.1', port: 3478 },
      { host: 'stun.example', port: 3479 },
    ]);
    assert.deepEqual(proxy(['--stun-server', 'off', 'proxy', URL]).config.stunServers, []);
    assert.equal(proxy(['proxy', URL]).config.stunServers, undefined);
    assert.deepEqual(
      proxy(['proxy', URL], { NEXD_STUN_SERVER: 'a.example:1, b.example:2' }).config.stunServers,
      [
        { host: 'a.example', port: 1 },
        { host: 'b.example', port: 2 },
      ],
    );
    fails(
      ['--stun-server', 'nope', 'proxy', URL],
      {},
      'NEX_ERR_BAD_FLAG',
      /--stun-server "nope" is not host:port/,
    );
  });

  test('--relay-only and --relay', () => {
    const p = proxy(['--relay-only', '--relay', 'https://relay.example:8443/derp', 'proxy', URL]);
    assert.equal(p.config.relayOnly, true);
    assert.deepEqual(p.config.relays, ['https://relay.example:8443/derp']);
    fails(['--relay', 'relay.example', 'proxy', URL], {}, 'NEX_ERR_BAD_FLAG', /is not a relay URL/);
  });
});

describe('the original clients’ forms: URL#regkey and NEXD_REQUESTED_IP', () => {
  test('--reg-key https://HOST#KEY names the service and the key', () => {
    const { config } = proxy(['--reg-key', 'https://try.nexodus.io#RK-abc%2Fdef', 'proxy']);
    assert.equal(config.serviceUrl, 'https://try.nexodus.io');
    assert.equal(config.regKey, 'RK-abc/def');
    // The same service given again is fine; another one is a typed error.
    const same = proxy(['--reg-key', 'https://try.nexodus.io#k', 'proxy', 'https://try.nexodus.io']);
    assert.equal(same.config.regKey, 'k');
    fails(
      ['--reg-key', 'https://a.example#k', 'proxy', 'https://b.example'],
      {},
      'NEX_ERR_BAD_FLAG',
      /names the service https:\/\/a\.example/,
    );
    fails(['--reg-key', 'https://a.example#', 'proxy'], {}, 'NEX_ERR_BAD_FLAG', /no key after the #/);
    // A bare key stays a key.
    assert.equal(proxy(['--reg-key', 'RK-plain', 'proxy', 'https://a']).config.regKey, 'RK-plain');
  });

  test('NEXD_REG_KEY=https://HOST#KEY and a service URL argument with #KEY', () => {
    const env = proxy(['proxy'], { NEXD_REG_KEY: 'https://svc.example:8443#key-1' });
    assert.equal(env.config.serviceUrl, 'https://svc.example:8443');
    assert.equal(env.config.regKey, 'key-1');
    const arg = proxy(['proxy', 'https://svc.example#key-2']);
    assert.equal(arg.config.serviceUrl, 'https://svc.example');
    assert.equal(arg.config.regKey, 'key-2');
  });

  test('NEXD_REQUESTED_IP is --request-ip (NEXD_REQUEST_IP still read; the flag wins)', () => {
    assert.equal(
      proxy(['proxy', 'https://a'], { NEXD_REQUESTED_IP: '100.100.0.7' }).config.requestIp,
      '100.100.0.7',
    );
    assert.equal(
      proxy(['proxy', 'https://a'], { NEXD_REQUEST_IP: '100.100.0.8' }).config.requestIp,
      '100.100.0.8',
    );
    assert.equal(
      proxy(['--request-ip', '100.100.0.9', 'proxy', 'https://a'], { NEXD_REQUESTED_IP: '100.100.0.7' })
        .config.requestIp,
      '100.100.0.9',
    );
  });
});

test('--state-secret takes a Secret name and refuses anything the API server would', () => {
  const ok = resolveNexdArgs(
    ['--state-secret', 'nexd-proxy.state', 'proxy', '--egress', 'tcp:80:1.2.3.4:80', 'https://n.example'],
    {},
  );
  assert.ok(ok.ok && ok.command.kind === 'proxy' && ok.command.config.stateSecret === 'nexd-proxy.state');
  const env = resolveNexdArgs(['proxy', '--egress', 'tcp:80:1.2.3.4:80', 'https://n.example'], {
    NEXD_STATE_SECRET: 'from-env',
  });
  assert.ok(env.ok && env.command.kind === 'proxy' && env.command.config.stateSecret === 'from-env');
  assert.ok(env.ok && env.command.kind === 'proxy' && env.command.config.stateDirGiven === undefined);
  for (const bad of ['Upper', '-lead', 'a_b', 'x'.repeat(254)]) {
    const r = resolveNexdArgs(
      ['--state-secret', bad, 'proxy', '--egress', 'tcp:80:1.2.3.4:80', 'https://n.example'],
      {},
    );
    assert.ok(!r.ok, bad);
    assert.equal(r.error.code, 'NEX_ERR_BAD_FLAG');
    assert.match(r.error.message, /is not a Secret name/);
  }
});

test('--rules-configmap (or NEXD_RULES_CONFIGMAP) takes a ConfigMap name', () => {
  const ok = resolveNexdArgs(['--rules-configmap', 'nexlink-import-nginx', 'proxy', 'https://n.example'], {});
  assert.ok(
    ok.ok && ok.command.kind === 'proxy' && ok.command.config.rulesConfigMap === 'nexlink-import-nginx',
  );
  const env = resolveNexdArgs(['proxy', 'https://n.example'], { NEXD_RULES_CONFIGMAP: 'from-env' });
  assert.ok(env.ok && env.command.kind === 'proxy' && env.command.config.rulesConfigMap === 'from-env');
  const r = resolveNexdArgs(['proxy', 'https://n.example'], { NEXD_RULES_CONFIGMAP: 'Not_A_Name' });
  assert.ok(!r.ok);
  assert.equal(r.error.code, 'NEX_ERR_BAD_FLAG');
  assert.match(r.error.message, /NEXD_RULES_CONFIGMAP "Not_A_Name" is not a ConfigMap name/);
});
