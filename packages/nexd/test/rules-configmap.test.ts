// SPDX-License-Identifier: Apache-2.0
// `--rules-configmap`: the parser, then nexd following a ConfigMap on a real kube-apiserver + etcd through a
// ServiceAccount whose Role names only that ConfigMap (the least privilege nexlink gives its proxies):
//   create with one egress rule  -> ready, the rule carries traffic
//   edit: a second target, the first moved -> applied live, a connection held open survives
//   edit to garbage               -> refused whole, the last good rules keep working, status says why
//   delete                        -> its rules are gone, the flag rule stays
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { ControlPlane, kubeSkipReason } from '../../../test/e2e/lib/kube/control-plane.js';
import { ControlClient } from '../src/control/client.js';
import { type Daemon, startDaemon } from '../src/daemon.js';
import { ProxyEngine } from '../src/proxy/proxy.js';
import { parseRule } from '../src/proxy/rules.js';
import { parseRulesData, RulesConfigMap } from '../src/proxy/rules-configmap.js';
import { FileStateStore } from '../src/state/file-store.js';
import { LOCAL_HOST, loopbackDataPlane, loopbackSide, TUNNEL_HOST } from './fixtures/loopback-data-plane.js';
import { captureLogs, eventually, freePort, tcpEcho, tcpRoundTrip, tempDir } from './helpers.js';

describe('parseRulesData', () => {
  test('a rule per line, comments and blank lines ignored, ingress before egress', () => {
    const rules = parseRulesData({
      egress: 'tcp:20000:100.100.0.3:80  # replica 0\n\n  tcp:20000:100.100.0.4:80\n',
      ingress: '# none yet\nudp:53:10.0.0.53:53',
    });
    assert.deepEqual(
      rules.map((r) => `${r.type} ${r.protocol}:${r.listenPort}:${r.destination.host}`),
      ['ingress udp:53:10.0.0.53', 'egress tcp:20000:100.100.0.3', 'egress tcp:20000:100.100.0.4'],
    );
    assert.deepEqual(parseRulesData(undefined), []);
  });

  test('bad content names the key and the line, and what is expected', () => {
    assert.throws(
      () => parseRulesData({ egress: 'tcp:1:a:1\ntcp:2:b' }),
      (e: Error & { code?: string }) =>
        e.code === 'NEX_ERR_PROXY_RULE' && /"egress" line 2: invalid egress rule "tcp:2:b"/.test(e.message),
    );
    assert.throws(
      () => parseRulesData({ egres: 'tcp:1:a:1' }),
      /key "egres"; expected only "ingress" and "egress"/,
    );
    assert.throws(
      () => parseRulesData({ egress: 'tcp:1:a:1\ntcp:1:a:1' }),
      /line 2: egress tcp:1:a:1 is given twice/,
    );
  });
});

const skip = kubeSkipReason();
describe('nexd --rules-configmap on a real kube-apiserver', { skip, timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let ns: string;
  let core: k8s.CoreV1Api;
  /** The ServiceAccount's client: get, list and watch on the one ConfigMap `rules`, nothing else. */
  let limited: k8s.KubeConfig;

  before(async () => {
    cp = await ControlPlane.start();
    core = cp.api(k8s.CoreV1Api);
    ns = await cp.namespace();
    const rbac = cp.api(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'proxy' } } });
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'proxy' },
        rules: [
          {
            apiGroups: [''],
            resources: ['configmaps'],
            resourceNames: ['rules'],
            verbs: ['get', 'list', 'watch'],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'proxy' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'proxy' },
        subjects: [{ kind: 'ServiceAccount', name: 'proxy', namespace: ns }],
      },
    });
    limited = cp.configForToken(await cp.serviceAccountToken(ns, 'proxy'));
  });
  after(() => cp?.stop());

  const writeRules = async (data: Record<string, string>) => {
    const existing = await core
      .readNamespacedConfigMap({ name: 'rules', namespace: ns })
      .catch(() => undefined);
    const body = { metadata: { name: 'rules' }, data };
    if (existing) await core.replaceNamespacedConfigMap({ name: 'rules', namespace: ns, body });
    else await core.createNamespacedConfigMap({ namespace: ns, body });
  };

  test('rules follow the ConfigMap live: added, moved, refused when invalid, gone when deleted', async (t) => {
    const [a, b] = [await tcpEcho('A'), await tcpEcho('B')];
    const dir = await tempDir();
    const [flagPort, p1, p2] = [await freePort(), await freePort(), await freePort()];
    const log = captureLogs();
    let source: RulesConfigMap | undefined;
    let daemon: Daemon | undefined;
    t.after(async () => {
      await daemon?.stop(0);
      a.close();
      b.close();
      await dir.remove();
    });
    await writeRules({ egress: `tcp:${p1}:127.0.0.1:${a.port}` });
    daemon = await startDaemon({
      config: { stateDir: dir.path, insecureSkipTlsVerify: false, logLevel: 'info', drainSeconds: 0 },
      rules: [parseRule('egress', `tcp:${flagPort}:127.0.0.1:${a.port}`)],
      logger: log.logger,
      store: new FileStateStore(dir.path),
      dataPlane: loopbackDataPlane({ ready: true }),
      local: loopbackSide(LOCAL_HOST),
      keyLocations: { mountedPrivateKey: join(dir.path, 'none.key') },
      rulesSource: async (engine, onSynced) => {
        source = new RulesConfigMap({
          kc: limited,
          namespace: ns,
          name: 'rules',
          engine,
          logger: log.logger,
          onSynced,
        });
        source.start();
        return source;
      },
    });
    await eventually(() => daemon!.readiness.ready, 10_000, 'ready after the first list');
    assert.equal((await tcpRoundTrip(p1, 'one', LOCAL_HOST)).toString(), 'A:one');

    // A connection through p1 held open across the edit: removing its rule must not cut it.
    const held = connect(p1, LOCAL_HOST);
    await once(held, 'connect');
    held.write('x');
    await once(held, 'data');
    await writeRules({ egress: `tcp:${p2}:127.0.0.1:${a.port}\ntcp:${p2}:127.0.0.1:${b.port}` });
    await eventually(
      () => source!.status().rules === 2 && !daemon!.proxy.rules().some((r) => r.listenPort === p1),
      5000,
      'the edit applied',
    );
    const answers = new Set<string>();
    for (let i = 0; i < 4; i++) answers.add((await tcpRoundTrip(p2, 'rr', LOCAL_HOST)).toString());
    assert.deepEqual([...answers].sort(), ['A:rr', 'B:rr'], 'round-robin over both targets');
    await assert.rejects(tcpRoundTrip(p1, 'gone', LOCAL_HOST), 'the moved rule no longer listens');
    held.write('still');
    const [echoed] = await once(held, 'data');
    assert.equal(echoed.toString(), 'still', 'the echo (tagged once per connection) still answers');
    held.destroy();

    const c = await ControlClient.connect(join(dir.path, 'nexd.sock'));
    t.after(() => c.close());
    const list = await c.call('proxy.list');
    assert.deepEqual(list.map((r) => r.origin).sort(), ['configmap', 'configmap', 'flag']);
    await assert.rejects(
      c.call('proxy.remove', { egress: [`tcp:${p2}:127.0.0.1:${b.port}`] }),
      /comes from the rules ConfigMap; remove it there/,
    );

    await writeRules({ egress: `tcp:${p2}:127.0.0.1:${a.port}\ntcp:not-a-port` });
    await eventually(() => /"egress" line 2/.test(source!.status().error ?? ''), 5000, 'refusal');
    assert.equal(source!.status().rules, 2, 'the last good set stays');
    const status = (await c.call('status')) as { rulesConfigMap?: { error?: string } };
    assert.match(status.rulesConfigMap?.error ?? '', /line 2/);
    assert.equal((await tcpRoundTrip(p2, 'kept', LOCAL_HOST)).toString().slice(2), 'kept');

    await core.deleteNamespacedConfigMap({ name: 'rules', namespace: ns });
    await eventually(() => daemon!.proxy.rules().length === 1, 5000, 'rules gone with the ConfigMap');
    assert.equal(
      daemon.proxy.rules()[0]!.listenPort,
      flagPort,
      'the flag rule is not the ConfigMap’s to remove',
    );
    assert.equal((await tcpRoundTrip(flagPort, 'flag', LOCAL_HOST)).toString(), 'A:flag');
  });

  test('a Role that does not name the ConfigMap: not ready, and the log says which permission is missing', async (t) => {
    const log = captureLogs();
    const engine = new ProxyEngine({
      tunnel: loopbackSide(TUNNEL_HOST),
      local: loopbackSide(LOCAL_HOST),
      logger: log.logger,
    });
    let synced = false;
    const other = new RulesConfigMap({
      kc: limited,
      namespace: ns,
      name: 'other-rules',
      engine,
      logger: log.logger,
      onSynced: () => {
        synced = true;
      },
    });
    t.after(async () => {
      await other.stop();
      await engine.close();
    });
    other.start();
    await eventually(() => /HTTP 403/.test(other.status().error ?? ''), 10_000, 'the 403');
    assert.match(other.status().error ?? '', /needs get, list and watch on this ConfigMap/);
    assert.ok(log.lines.some((l) => l.msg === 'rules ConfigMap unreadable; retrying'));
    assert.equal(synced, false, 'never synced, so never ready');
  });
});
