// SPDX-License-Identifier: Apache-2.0
// SecretStateStore against a real kube-apiserver + etcd (test/e2e/lib/kube), no double of the Kubernetes API:
// the shared conformance suite, conflicts between writers, an API server outage, RBAC refusals, corrupt
// Secrets, the original nexd's Secret, and the default name from the pod's workload.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../../../test/e2e/lib/exec.js';
import { ControlPlane, kubeSkipReason } from '../../../test/e2e/lib/kube/control-plane.js';
import { ControlClient } from '../src/control/client.js';
import { startDaemon } from '../src/daemon.js';
import { SECRET_STATE_KEY, SecretStateStore } from '../src/state/secret-store.js';
import { inCluster, openSecretStore, rootOwner } from '../src/state/secret-target.js';
import type { State } from '../src/state/state.js';
import { updateState } from '../src/state/store.js';
import { LOCAL_HOST, loopbackDataPlane, loopbackSide } from './fixtures/loopback-data-plane.js';
import { captureLogs, freePort, tcpEcho, tcpRoundTrip, tempDir } from './helpers.js';
import { stateStoreConformance } from './state-conformance.js';

const RBAC_FILE = join(import.meta.dirname, '..', '..', '..', 'deploy', 'rbac', 'nexd-state.yaml');
const FULL: State = {
  version: 1,
  privateKey: 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=',
  publicKey: 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=',
  deviceId: '6f1c2c9e-6c1c-4c55-9d7e-2a0f0b7f1a11',
  tokens: { accessToken: 'a.b.c', refreshToken: 'r' },
  proxyRules: [{ type: 'ingress', rule: 'tcp:80:nginx.ns.svc.cluster.local:80' }],
};
const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) =>
  s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');

let cp: ControlPlane;
let ns: string;
let core: k8s.CoreV1Api;
let seq = 0;
const freshName = () => `nexd-state-${++seq}`;

function store(name: string, api: k8s.CoreV1Api = core, namespace = ns): SecretStateStore {
  return new SecretStateStore({ api, namespace, name });
}
async function readSecret(name: string): Promise<k8s.V1Secret | undefined> {
  return core.readNamespacedSecret({ name, namespace: ns }).catch((e: unknown) => {
    if ((e as { code?: number }).code === 404) return undefined;
    throw e;
  });
}
async function putRaw(name: string, data: Record<string, string>): Promise<void> {
  const existing = await readSecret(name);
  const body = { metadata: { name }, data };
  if (existing) await core.replaceNamespacedSecret({ name, namespace: ns, body });
  else await core.createNamespacedSecret({ namespace: ns, body });
}
/** A ServiceAccount `sa` bound to a Role with `verbs` on Secret `secret`; returns a client with its token. */
async function clientWithRole(sa: string, secret: string, verbs: string[]): Promise<k8s.CoreV1Api> {
  const rbac = cp.api(k8s.RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: sa },
      rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: [secret], verbs }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: sa },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    },
  });
  return cp.configForToken(await cp.serviceAccountToken(ns, sa)).makeApiClient(k8s.CoreV1Api);
}

const skip = kubeSkipReason();
describe('SecretStateStore on a real kube-apiserver', { skip, timeout: 600_000 }, () => {
  before(async () => {
    cp = await ControlPlane.start();
    core = cp.api(k8s.CoreV1Api);
    ns = await cp.namespace();
  });
  after(() => cp?.stop());

  stateStoreConformance('SecretStateStore (kube-apiserver)', async () => {
    const name = freshName();
    return {
      open: () => store(name),
      writeRaw: (raw) => putRaw(name, { [SECRET_STATE_KEY]: b64(raw) }),
      readRaw: async () => unb64((await readSecret(name))?.data?.[SECRET_STATE_KEY]),
      dispose: async () => {
        await core.deleteNamespacedSecret({ name, namespace: ns }).catch(() => {});
      },
    };
  });

  test('create: the Secret is made with state.json and the managed-by label', async () => {
    const name = freshName();
    await store(name).save(FULL);
    const s = await readSecret(name);
    assert.equal(s?.metadata?.labels?.['app.kubernetes.io/managed-by'], 'nexd');
    assert.deepEqual(JSON.parse(unb64(s?.data?.[SECRET_STATE_KEY]) ?? ''), FULL);
  });

  test('a Secret deleted while nexd runs is not re-created: the save rejects with NEX_ERR_STATE_DELETED', async () => {
    const name = freshName();
    const st = store(name);
    await st.save(FULL);
    // Its workload goes (nexlink removing an export): a stopping Pod's last save must not bring it back.
    await core.deleteNamespacedSecret({ name, namespace: ns });
    await assert.rejects(
      st.save({ ...FULL, deviceId: 'after-delete' }),
      (e: Error & { code?: string }) =>
        e.code === 'NEX_ERR_STATE_DELETED' && /was deleted while nexd ran/.test(e.message),
    );
    assert.equal(await readSecret(name), undefined, 'not re-created');
    // The same for one that existed empty at load (nexlink creates them without data).
    const pre = freshName();
    await putRaw(pre, {});
    const st2 = store(pre);
    await st2.load();
    await core.deleteNamespacedSecret({ name: pre, namespace: ns });
    await assert.rejects(st2.save(FULL), /was deleted while nexd ran/);
    assert.equal(await readSecret(pre), undefined);
  });

  test('a Secret deleted and made anew under its name (the next export) is not written by the old nexd', async () => {
    // The bench:nexlink bug: export 1's stopping Pod saved into the empty Secret export 2's nexlink had just
    // made, so export 2's nexlink read export 1's device id from it.
    const name = freshName();
    await putRaw(name, {});
    const st = store(name);
    await st.load();
    await st.save({ ...FULL, deviceId: 'old-device' });
    await core.deleteNamespacedSecret({ name, namespace: ns });
    await putRaw(name, {});
    await assert.rejects(
      st.save({ ...FULL, deviceId: 'old-device-again' }),
      (e: Error & { code?: string }) =>
        e.code === 'NEX_ERR_STATE_DELETED' && /made anew \(another uid\)/.test(e.message),
    );
    assert.equal((await readSecret(name))?.data?.[SECRET_STATE_KEY], undefined, 'the new Secret stays empty');
  });

  test('update keeps the other keys of the Secret (i.e. mounted WireGuard keys)', async () => {
    const name = freshName();
    await putRaw(name, { 'private.key': b64('priv') });
    const st = store(name);
    await st.save(FULL);
    await st.save({ ...FULL, deviceId: 'second' });
    const s = await readSecret(name);
    assert.equal(unb64(s?.data?.['private.key']), 'priv');
    assert.equal(JSON.parse(unb64(s?.data?.[SECRET_STATE_KEY]) ?? '').deviceId, 'second');
  });

  test("update keeps the Secret's labels, annotations and owner references (a controller's Secret)", async () => {
    const name = freshName();
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: `${name}-owner` } },
    });
    const ownerReferences = [
      { apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata!.name!, uid: owner.metadata!.uid! },
    ];
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: {
          name,
          labels: { 'app.kubernetes.io/managed-by': 'nexlink' },
          annotations: { why: 'made by a controller' },
          ownerReferences,
        },
        type: 'Opaque',
      },
    });
    await store(name).save(FULL);
    const s = await readSecret(name);
    assert.equal(JSON.parse(unb64(s?.data?.[SECRET_STATE_KEY]) ?? '').deviceId, FULL.deviceId);
    assert.deepEqual(s?.metadata?.labels, { 'app.kubernetes.io/managed-by': 'nexlink' });
    assert.equal(s?.metadata?.annotations?.why, 'made by a controller');
    assert.deepEqual(
      s?.metadata?.ownerReferences?.map((r) => r.uid),
      [owner.metadata!.uid],
    );
  });

  test('conflict: a write at a stale resourceVersion (409) is re-read and retried, keeping the other writer’s keys', async () => {
    const name = freshName();
    const a = store(name);
    await a.save(FULL);
    // Another writer changes the Secret behind a's back: a's resourceVersion is now stale.
    const s = await readSecret(name);
    await core.replaceNamespacedSecret({
      name,
      namespace: ns,
      body: { ...s, data: { ...s?.data, 'added-by-b': b64('yes') } },
    });
    const rvBefore = (await readSecret(name))?.metadata?.resourceVersion;
    await a.save({ ...FULL, deviceId: 'a-after-conflict' });
    const after = await readSecret(name);
    assert.notEqual(after?.metadata?.resourceVersion, rvBefore);
    assert.equal(unb64(after?.data?.['added-by-b']), 'yes', 'the other writer’s key is kept');
    assert.equal(JSON.parse(unb64(after?.data?.[SECRET_STATE_KEY]) ?? '').deviceId, 'a-after-conflict');
  });

  test('conflict: two writers saving at once both finish, and the Secret holds one whole state', async () => {
    const name = freshName();
    const [a, b] = [store(name), store(name)];
    const saves: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      saves.push(a.save({ ...FULL, deviceId: `a-${i}` }), b.save({ ...FULL, deviceId: `b-${i}` }));
    }
    await Promise.all(saves);
    const final = await store(name).load();
    assert.ok(
      final.deviceId === 'a-7' || final.deviceId === 'b-7',
      `last of a writer, got ${final.deviceId}`,
    );
    assert.deepEqual({ ...final, deviceId: 'x' }, { ...FULL, deviceId: 'x' });
  });

  test('restart keeps the device id, keys, tokens and runtime rules', async () => {
    const name = freshName();
    const first = store(name);
    await first.save(FULL);
    await updateState(first, (s) => {
      s.proxyRules.push({ type: 'egress', rule: 'tcp:5432:db.example:5432' });
    });
    const restarted = await store(name).load();
    assert.equal(restarted.deviceId, FULL.deviceId);
    assert.equal(restarted.privateKey, FULL.privateKey);
    assert.deepEqual(restarted.tokens, FULL.tokens);
    assert.deepEqual(
      restarted.proxyRules.map((r) => r.rule),
      ['tcp:80:nginx.ns.svc.cluster.local:80', 'tcp:5432:db.example:5432'],
    );
  });

  test('a Secret that stops parsing while nexd runs is never overwritten', async () => {
    const name = freshName();
    const st = store(name);
    await st.save(FULL);
    await putRaw(name, { [SECRET_STATE_KEY]: b64('{"version":1,"privateKey":') });
    await assert.rejects(st.save({ ...FULL, deviceId: 'new' }), { code: 'NEX_ERR_STATE_CORRUPT' });
    assert.equal(unb64((await readSecret(name))?.data?.[SECRET_STATE_KEY]), '{"version":1,"privateKey":');
    await assert.rejects(st.save(FULL), { code: 'NEX_ERR_STATE_CORRUPT' }, 'later saves are refused too');
  });

  test('the original nexd’s Secret ({} first, then proxy-rules-config) is read and migrated', async () => {
    const name = freshName();
    await putRaw(name, { [SECRET_STATE_KEY]: b64('{}') });
    assert.deepEqual(await store(name).load(), { version: 1, proxyRules: [] });
    const original = {
      'public-key': FULL.publicKey,
      'private-key': FULL.privateKey,
      'auth-token': {
        access_token: 'at',
        token_type: 'Bearer',
        refresh_token: 'rt',
        expiry: '2026-01-02T03:04:05Z',
      },
      'proxy-rules-config': { egress: ['tcp:5432:100.100.0.1:5432'], ingress: null },
    };
    await putRaw(name, { [SECRET_STATE_KEY]: b64(JSON.stringify(original)) });
    const st = store(name);
    const migrated = await st.load();
    assert.deepEqual(migrated, {
      version: 1,
      privateKey: FULL.privateKey,
      publicKey: FULL.publicKey,
      tokens: { accessToken: 'at', refreshToken: 'rt', expiresAt: '2026-01-02T03:04:05.000Z' },
      proxyRules: [{ type: 'egress', rule: 'tcp:5432:100.100.0.1:5432' }],
    });
    await st.save(migrated);
    assert.equal(JSON.parse(unb64((await readSecret(name))?.data?.[SECRET_STATE_KEY]) ?? '').version, 1);
  });

  test('forbidden: a Role without "update" gives an error naming the verb, the Secret and the Role to add', async () => {
    const name = freshName();
    await putRaw(name, { [SECRET_STATE_KEY]: b64(JSON.stringify(FULL)) });
    const api = await clientWithRole('nexd-read-only', name, ['get']);
    const st = store(name, api);
    assert.equal((await st.load()).deviceId, FULL.deviceId, 'get is allowed');
    await assert.rejects(st.save({ ...FULL, deviceId: 'x' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'NEX_ERR_STATE_FORBIDDEN');
      assert.match(
        err.message,
        new RegExp(`system:serviceaccount:${ns}:nexd-read-only may not update secrets "${name}"`),
      );
      assert.match(err.message, /verbs: \["get", "update"\]/);
      assert.match(err.message, /deploy\/rbac\/nexd-state\.yaml/);
      return true;
    });
    assert.equal(
      JSON.parse(unb64((await readSecret(name))?.data?.[SECRET_STATE_KEY]) ?? '').deviceId,
      FULL.deviceId,
    );
  });

  test('the shipped Role (deploy/rbac/nexd-state.yaml) lets a real ServiceAccount token keep the state; less is refused', async () => {
    await cp.kubectl(['apply', '-n', ns, '-f', RBAC_FILE]);
    const doc = await readFile(RBAC_FILE, 'utf8');
    const secretName = /resourceNames: \[([a-z0-9-]+)\]/.exec(doc)?.[1];
    const saName = /kind: ServiceAccount\nmetadata:\n {2}name: ([a-z0-9-]+)/.exec(doc)?.[1];
    assert.ok(secretName && saName, 'the RBAC file names its Secret and ServiceAccount');
    const token = await cp.serviceAccountToken(ns, saName);
    const api = cp.configForToken(token).makeApiClient(k8s.CoreV1Api);
    const st = store(secretName, api);
    assert.deepEqual(await st.load(), { version: 1, proxyRules: [] }, 'the pre-created empty Secret');
    await st.save(FULL);
    await updateState(st, (s) => {
      s.proxyRules.push({ type: 'egress', rule: 'udp:53:[fd00::53]:53' });
    });
    assert.equal((await store(secretName, api).load()).proxyRules.length, 2);
    // A ServiceAccount without the RoleBinding is refused, with the verb named.
    const other = cp.configForToken(await cp.serviceAccountToken(ns, 'no-role')).makeApiClient(k8s.CoreV1Api);
    await assert.rejects(store(secretName, other).load(), {
      code: 'NEX_ERR_STATE_FORBIDDEN',
      message: /no-role may not get secrets/,
    });
    // The shipped Role cannot touch another Secret.
    await assert.rejects(store('some-other-secret', api).load(), { code: 'NEX_ERR_STATE_FORBIDDEN' });
  });

  test('default name: the pod’s root owner (Deployment -> ReplicaSet -> Pod, made by the real controllers)', async () => {
    const apps = cp.api(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'nexd-proxy' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'nexd-proxy' } },
          template: {
            metadata: { labels: { app: 'nexd-proxy' } },
            spec: { containers: [{ name: 'nexd', image: 'localhost/nexodus-ts/nexd:0.1.0' }] },
          },
        },
      },
    });
    const pod = await waitFor(
      'a Pod of the Deployment',
      async () => (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=nexd-proxy' })).items[0],
      90_000,
      250,
    );
    const owner = await rootOwner(cp.kc, ns, pod.metadata?.name ?? '');
    assert.equal(owner.name, 'nexd-proxy');
    assert.equal(owner.owner?.kind, 'Deployment');
    const pod2 = await rootOwner(cp.kc, ns, 'no-such-pod').catch((e: Error) => e);
    assert.ok(pod2 instanceof Error && /cannot get pods "no-such-pod"/.test(pod2.message));
  });

  test('API server stopped for 20 s while rules are added: nothing waits for it, nothing is lost', async () => {
    const name = freshName();
    const st = store(name);
    await st.save(FULL);
    await st.load();
    await cp.stopApiServer();
    const outageStart = Date.now();
    try {
      let i = 0;
      // Keep adding rules through the outage, as the control socket would.
      while (Date.now() - outageStart < 20_000) {
        await updateState(st, (s) => {
          s.proxyRules.push({ type: 'egress', rule: `tcp:${7000 + i}:db.example:5432` });
        });
        i++;
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.ok(i >= 10, `rules were added during the outage without waiting for the API server (${i})`);
      assert.ok(st.pendingWrites > 0, 'the writes are pending');
      assert.equal((await st.load()).proxyRules.length, 1 + i, 'load gives the newest state meanwhile');
      await cp.startApiServer();
      assert.ok(await st.flush(60_000), 'the pending state is written once the API server is back');
      const restarted = await store(name).load();
      assert.equal(restarted.proxyRules.length, 1 + i, 'every rule added during the outage is in the Secret');
      assert.equal(restarted.proxyRules.at(-1)?.rule, `tcp:${7000 + i - 1}:db.example:5432`);
    } finally {
      await cp.startApiServer();
    }
  });

  test('nexd in a "pod": a real ServiceAccount token and the shipped Role; rules added while the API server is down survive a restart', async (t) => {
    const nsPod = await cp.namespace();
    await cp.kubectl(['apply', '-n', nsPod, '-f', RBAC_FILE]);
    const dir = await tempDir();
    t.after(() => dir.remove());
    // What the kubelet mounts, and the variables it sets.
    const saDir = join(dir.path, 'serviceaccount');
    await mkdir(saDir);
    await writeFile(join(saDir, 'token'), await cp.serviceAccountToken(nsPod, 'nexd-proxy'));
    await writeFile(join(saDir, 'ca.crt'), cp.caPem);
    await writeFile(join(saDir, 'namespace'), nsPod);
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(cp.port) };
    assert.ok(inCluster(env, saDir));
    const echo = await tcpEcho('E');
    t.after(() => echo.close());
    const logs: ReturnType<typeof captureLogs>[] = [];
    const start = async () => {
      const log = captureLogs();
      logs.push(log);
      const store = await openSecretStore({ env, name: 'nexd-proxy-state', serviceAccountDir: saDir });
      assert.equal(store.location, `secret nexd-proxy-state in namespace ${nsPod}`);
      return startDaemon({
        config: {
          stateDir: dir.path,
          insecureSkipTlsVerify: false,
          logLevel: 'info',
          drainSeconds: 0,
          serviceUrl: 'http://127.0.0.1:1',
        },
        rules: [],
        logger: log.logger,
        store,
        dataPlane: loopbackDataPlane({ ready: true }),
        local: loopbackSide(LOCAL_HOST),
        keyLocations: { mountedPrivateKey: join(dir.path, 'none.key') },
      });
    };
    const first = await start();
    const [p1, p2] = [await freePort(), await freePort()];
    const c = await ControlClient.connect(join(dir.path, 'nexd.sock'));
    await c.call('proxy.add', { egress: [`tcp:${p1}:127.0.0.1:${echo.port}`] });
    await cp.stopApiServer();
    try {
      // The control socket answers and the new rule carries traffic while the API server is gone.
      await c.call('proxy.add', { egress: [`tcp:${p2}:127.0.0.1:${echo.port}`] });
      assert.equal((await tcpRoundTrip(p2, 'down', LOCAL_HOST)).toString(), 'E:down');
      assert.equal((await tcpRoundTrip(p1, 'down', LOCAL_HOST)).toString(), 'E:down');
    } finally {
      await cp.startApiServer();
    }
    c.close();
    await first.stop(0); // flushes the pending state
    const second = await start();
    t.after(() => second.stop(0));
    assert.equal(second.keySource, 'state');
    assert.equal(second.keys.publicKey, first.keys.publicKey, 'same device key after the restart');
    const back = await tcpRoundTrip(p2, 'back', LOCAL_HOST).catch(async (err: unknown) => {
      const secret = await core.readNamespacedSecret({ name: 'nexd-proxy-state', namespace: nsPod });
      const msgs = logs.map((l) => l.lines.map((x) => `${x.msg} ${JSON.stringify(x)}`.slice(0, 300)));
      throw new Error(
        `${err}; Secret: ${unb64(secret.data?.[SECRET_STATE_KEY])}; logs: ${JSON.stringify(msgs)}`,
      );
    });
    assert.equal(back.toString(), 'E:back', 'the rule added during the outage');
    // With a token of a ServiceAccount the Role is not bound to, nexd does not start, and says why.
    await writeFile(join(saDir, 'token'), await cp.serviceAccountToken(nsPod, 'unbound'));
    await assert.rejects(start(), {
      code: 'NEX_ERR_STATE_FORBIDDEN',
      message: /unbound may not get secrets "nexd-proxy-state"/,
    });
  });
});
