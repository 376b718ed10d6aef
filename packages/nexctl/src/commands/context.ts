// SPDX-License-Identifier: Apache-2.0
// What every command group gets: the resolved global options and where to write. The API command groups
// (`nexctl device list`, `vpc list`, `device delete ID`) will register themselves with the same context
// plus an API client factory, next to registerNexdCommands.
import type { OutputFormat, OutputMode } from '../output.js';

export interface GlobalOptions {
  stateDir: string;
  /** `--unix-socket`: the control socket, when not the state dir's. */
  unixSocket?: string;
  /** `json` for the structured formats (json, json-raw, yaml), else `table`. */
  output: OutputMode;
  /** The --output format itself. */
  format: OutputFormat;
}

export interface CommandContext {
  globals(): GlobalOptions;
  write(text: string): void;
}
