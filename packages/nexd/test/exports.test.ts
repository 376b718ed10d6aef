// SPDX-License-Identifier: Apache-2.0
// The published entry points (built dist, through package.json "exports") expose the public API.
import assert from 'node:assert/strict';
import { test } from 'node:test';

test('@nexodus/nexd and @nexodus/nexd/control resolve and export the public API', async () => {
  const main = await import('@nexodus/nexd');
  for (const name of [
    'parseRule',
    'formatRule',
    'ProxyEngine',
    'NodeStreamNetwork',
    'NodeDatagramNetwork',
    'FileStateStore',
    'SecretStateStore',
    'openSecretStore',
    'loadKeys',
    'generateKeyPair',
    'parseWgConfig',
    'startDaemon',
    'runNexd',
    'resolveNexdArgs',
    'formatAddressLine',
    'serveControl',
    'ControlClient',
    'startHealthServer',
    'installGracefulShutdown',
    'unavailableDataPlane',
    'agentDataPlane',
    'Pinger',
  ]) {
    assert.equal(typeof (main as Record<string, unknown>)[name], 'function', `${name} is exported`);
  }
  const control = await import('@nexodus/nexd/control');
  assert.equal(typeof control.ControlClient.connect, 'function');
  assert.equal(control.controlSocketPath('/var/lib/nexd'), '/var/lib/nexd/nexd.sock');
  assert.deepEqual(control.CONTROL_METHODS, [
    'status',
    'peers',
    'version',
    'ping',
    'debug.set',
    'proxy.list',
    'proxy.add',
    'proxy.remove',
  ]);
  // The control entry point must not drag in the daemon (pino, prom-client) for nexctl.
  assert.equal('startDaemon' in control, false);
});
