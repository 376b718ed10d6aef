// SPDX-License-Identifier: Apache-2.0
// Graceful shutdown: on SIGTERM (what Kubernetes sends) or SIGINT, run `stop` once (it stops accepting and
// drains for a bounded time), then exit 0. A second signal while draining exits at once with 1, so an
// impatient operator is never stuck.
import type { Logger } from 'pino';

export interface ShutdownOptions {
  logger: Logger;
  signals?: NodeJS.Signals[];
  /** Injected for tests; defaults to process.exit. */
  exit?: (code: number) => void;
}

/** Installs the handlers; returns a function that removes them again. */
export function installGracefulShutdown(
  stop: (signal: NodeJS.Signals) => Promise<void>,
  options: ShutdownOptions,
): () => void {
  const { logger } = options;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal during shutdown; exiting now');
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, draining open ones');
    stop(signal).then(
      () => {
        logger.info('shutdown complete');
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const s of signals) process.on(s, onSignal);
  return () => {
    for (const s of signals) process.removeListener(s, onSignal);
  };
}
