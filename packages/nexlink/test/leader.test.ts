// SPDX-License-Identifier: Apache-2.0
// Leader election on a real kube-apiserver: of two candidates one leads and the other waits; a leader that
// gives the Lease up (SIGTERM) hands over at the candidate's next attempt; one that dies (stops renewing)
// hands over once the lease duration has passed, and not before.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { ControlPlane, kubeSkipReason } from '../../../test/e2e/lib/kube/control-plane.js';
import type { Cluster } from '../src/kube/cluster.js';
import { LEASE_DURATION_S, LeaderElector, RETRY_MS } from '../src/kube/leader.js';

const quiet = { info() {}, warn() {} };

describe('leader election with a Lease', { skip: kubeSkipReason(), timeout: 120_000 }, () => {
  let cp: ControlPlane;
  let cluster: Cluster;
  let ns: string;
  before(async () => {
    cp = await ControlPlane.start({ controllers: false });
    cluster = {
      kc: cp.kc,
      core: cp.kc.makeApiClient(k8s.CoreV1Api),
      apps: cp.kc.makeApiClient(k8s.AppsV1Api),
      objects: k8s.KubernetesObjectApi.makeApiClient(cp.kc),
    };
    ns = await cp.namespace();
  });
  after(() => cp?.stop());

  const holder = async () =>
    (await cp.kc.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'nexlink', namespace: ns }))
      .spec?.holderIdentity;

  test('one leads, the other waits; a release hands over within one retry; a crash after the lease duration', async () => {
    const a = new LeaderElector(cluster, ns, 'nexlink', 'a', quiet);
    const b = new LeaderElector(cluster, ns, 'nexlink', 'b', quiet);
    const c = new LeaderElector(cluster, ns, 'nexlink', 'c', quiet);
    await a.lead(() => {});
    assert.equal(await holder(), 'a');
    let bLeads = 0;
    const bLeading = b
      .lead(() => {})
      .then(() => {
        bLeads = Date.now();
      });
    await new Promise((r) => setTimeout(r, 3 * RETRY_MS));
    assert.equal(bLeads, 0, 'b waits while a renews');
    assert.equal(await holder(), 'a');

    const released = Date.now();
    await a.release();
    await bLeading;
    assert.ok(bLeads - released <= RETRY_MS + 1500, `handover after release took ${bLeads - released} ms`);
    assert.equal(await holder(), 'b');

    // b dies: it stops renewing. c takes over only after the lease duration.
    let cLeads = 0;
    const died = Date.now();
    b.stop();
    await c
      .lead(() => {})
      .then(() => {
        cLeads = Date.now();
      });
    const took = cLeads - died;
    assert.ok(
      took >= (LEASE_DURATION_S - 5) * 1000,
      `c took over after ${took} ms, before b's lease could expire`,
    );
    assert.ok(took <= (LEASE_DURATION_S + 5) * 1000, `c took over after ${took} ms`);
    assert.equal(await holder(), 'c');
    c.stop();
  });
});
