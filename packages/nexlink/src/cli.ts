#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// `nexlink`: one controller per cluster and namespace. Logs are pino JSON lines.
import { pino } from 'pino';
import { helpText, parseConfig } from './config.js';
import { Controller } from './controller/controller.js';
import { NexlinkError } from './errors.js';
import { startHealthServer } from './health.js';
import { connect } from './kube/cluster.js';
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
  await controller.start();
  log.info({ healthPort: health.port }, 'nexlink running');
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  log.info('nexlink stopping');
  await controller.stop();
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
