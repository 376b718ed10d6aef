// SPDX-License-Identifier: Apache-2.0
// JSON-lines logs via pino. Level names as labels (`"level":"info"`) like the original nexd's zap output,
// so the scenario's `kubectl logs | grep` habits keep working.
import { type DestinationStream, type Logger, pino } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  const options = {
    level,
    base: undefined,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * The line the scenario tells users to look for, i.e.
 * `New local Wireguard interface addresses assigned IPv4 [ 100.100.0.1 ] IPv6 [ 200::1 ]`.
 */
export function formatAddressLine(ipv4: readonly string[], ipv6: readonly string[]): string {
  return `New local Wireguard interface addresses assigned IPv4 [ ${ipv4.join(' ')} ] IPv6 [ ${ipv6.join(' ')} ]`;
}

/** Logs the address assignment line with the addresses also as structured fields. */
export function logAddresses(logger: Logger, ipv4: readonly string[], ipv6: readonly string[]): void {
  logger.info({ ipv4, ipv6 }, formatAddressLine(ipv4, ipv6));
}
