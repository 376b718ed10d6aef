// SPDX-License-Identifier: Apache-2.0
export type { CommandContext, GlobalOptions } from './commands/context.js';
export { registerNexdCommands } from './commands/nexd.js';
export {
  type Column,
  formatJson,
  formatPairs,
  formatTable,
  OUTPUT_FORMATS,
  type OutputFormat,
} from './output.js';
export { NEXCTL_EXIT_FAILURE, NEXCTL_EXIT_OK, NEXCTL_EXIT_USAGE, type NexctlIo, runNexctl } from './run.js';
