// SPDX-License-Identifier: Apache-2.0
// The body of `nexctl`, separate from the bin shim so tests can run it in-process.
// Exit codes: 0 ok, 1 the operation failed (nexd said no, or is not reachable), 2 bad command line.
import { Command, CommanderError, Option } from 'commander';
import type { GlobalOptions } from './commands/context.js';
import { registerNexdCommands } from './commands/nexd.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output.js';

export const NEXCTL_EXIT_OK = 0;
export const NEXCTL_EXIT_FAILURE = 1;
export const NEXCTL_EXIT_USAGE = 2;
const DEFAULT_STATE_DIR = '/var/lib/nexd';

export interface NexctlIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export async function runNexctl(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: NexctlIo,
): Promise<number> {
  const program = new Command('nexctl')
    .description('Nexodus command line: the API, and the nexd running on this machine')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .configureHelp({ showGlobalOptions: true, helpWidth: 110 })
    .showSuggestionAfterError(true)
    .helpOption('-h, --help', 'show this help')
    .addOption(
      new Option(
        '--state-dir <dir>',
        `nexd state directory, where its control socket is [env: NEXD_STATE_DIR]`,
      ).default(env.NEXD_STATE_DIR || DEFAULT_STATE_DIR),
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'));
  // Subcommands inherit exitOverride/output settings only if configured before they are added.
  const globals = (): GlobalOptions => {
    const o = program.opts<{ stateDir: string; output: OutputFormat }>();
    return { stateDir: o.stateDir, output: o.output };
  };
  registerNexdCommands(program, { globals, write: io.stdout });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return NEXCTL_EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and `nexctl help` exit with 0 (asked for); `nexctl` or `nexctl nexd` without a subcommand
      // print the help on stderr with exitCode 1: like every other commander error, a usage error.
      return err.exitCode === 0 ? NEXCTL_EXIT_OK : NEXCTL_EXIT_USAGE;
    }
    io.stderr(`nexctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return NEXCTL_EXIT_FAILURE;
  }
}
