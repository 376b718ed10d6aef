#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// `nexlink`: one controller per cluster and namespace. Logs are pino JSON lines.
import { pino } from 'pino';
import { helpText, parseConfig } from './config.js';
import { Controller } from './controller/controller.js';
import { NexlinkError } from './errors.js';
import { startHealthServer } from './health.js';
import { connect } from './kube/cluster.js';
import { LeaderElector } from './kube/leader.js';
import { NexlinkMetrics } from './metrics.js';
import { login } from './nexodus/session.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText());
    return 0;
  }
  const cluster = connect(process.env);
  const config = parseConfig(argv, process.env, cluster.podNamespace ?? process.env.POD_NAMESPACE);
  const log = pino({ level: config.logLevel, base: { component: 'nexlink' } });
  const metrics = new NexlinkMetrics();
  const session = await login(config);
  log.info({ namespace: config.namespace, realm: config.realm, vpcId: session.vpcId }, 'nexlink starting');
  const controller = new Controller({ config, cluster, session, metrics, log });
  const health = await startHealthServer({
    host: config.healthHost,
    port: config.healthPort,
    ready: () => controller.pending(),
    metrics,
  });
  const stopping = new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  const identity = process.env.POD_NAME ?? process.env.HOSTNAME ?? `nexlink-${process.pid}`;
  const elector = config.leaseName
    ? new LeaderElector(cluster, config.namespace, config.leaseName, identity, log)
    : undefined;
  // Only the leader reconciles; a standby serves /healthz and waits (its /readyz says why it is not ready).
  const leading = elector
    ? elector.lead(() => {
        // Another replica may lead now: stop writing at once; the Pod is restarted as a candidate.
        process.exit(1);
      })
    : Promise.resolve();
  if ((await Promise.race([leading.then(() => 'lead'), stopping.then(() => 'stop')])) === 'lead') {
    await controller.start();
    log.info({ healthPort: health.port, identity }, 'nexlink running');
    await stopping;
  }
  log.info('nexlink stopping');
  await controller.stop();
  await elector?.release();
  await health.close();
  await session.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = err instanceof NexlinkError ? err.code : 'NEX_ERR_NEXLINK_INTERNAL';
    process.stderr.write(`${JSON.stringify({ level: 60, code, msg: (err as Error).message })}\n`);
    process.exit(1);
  },
);
