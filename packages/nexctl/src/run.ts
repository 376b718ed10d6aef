// SPDX-License-Identifier: Apache-2.0
// The body of `nexctl`, separate from the bin shim so tests can run it in-process.
// Exit codes: 0 ok, 1 the operation failed (nexd said no, or is not reachable), 2 bad command line.
import { DEFAULT_STATE_DIR } from '@nexodus/nexd/control';
import { Command, CommanderError, Option } from 'commander';
import { registerApiCommands } from './commands/api.js';
import type { GlobalOptions } from './commands/context.js';
import { registerInvitationCommands } from './commands/invitations.js';
import { registerNexdCommands } from './commands/nexd.js';
import { registerNexdSettingsCommands } from './commands/nexd-settings.js';
import { registerResourceCommands } from './commands/resources.js';
import { OUTPUT_FORMATS, type OutputFormat, useOutputFormat } from './output.js';
import { NEXCTL_VERSION } from './version.js';

export const NEXCTL_EXIT_OK = 0;
export const NEXCTL_EXIT_FAILURE = 1;
export const NEXCTL_EXIT_USAGE = 2;

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
    .version(`nexctl ${NEXCTL_VERSION}`, '--version', 'print the nexctl version')
    .addOption(
      new Option(
        '--state-dir <dir>',
        `nexd state directory, where its control socket is [env: NEXD_STATE_DIR]`,
      ).default(env.NEXD_STATE_DIR || DEFAULT_STATE_DIR),
    )
    .addOption(
      new Option(
        '--unix-socket <path>',
        'nexd control socket (default: <state dir>/nexd.sock) [env: NEXD_UNIX_SOCKET]',
      ),
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addOption(
      new Option('--service-url <url>', 'URL of the Nexodus service (API commands) [env: NEXD_SERVICE_URL]'),
    )
    .addOption(new Option('--username <name>', 'username for the password login [env: NEXD_USERNAME]'))
    .addOption(new Option('--password <password>', 'password for the password login [env: NEXD_PASSWORD]'))
    .addOption(new Option('--ca-file <file>', 'PEM file with the service CA [env: NEXD_CA_FILE]'))
    .addOption(
      new Option(
        '--insecure-skip-tls-verify',
        'do not verify the service certificate (testing only) [env: NEXD_INSECURE_SKIP_TLS_VERIFY]',
      ),
    );
  // Subcommands inherit exitOverride/output settings only if configured before they are added.
  const globals = (): GlobalOptions => {
    const o = program.opts<{ stateDir: string; unixSocket?: string; output: OutputFormat }>();
    const socket = o.unixSocket ?? (env.NEXD_UNIX_SOCKET || undefined);
    return {
      stateDir: o.stateDir,
      output: useOutputFormat(o.output),
      format: o.output,
      ...(socket ? { unixSocket: socket } : {}),
    };
  };
  // Before any command runs, so formatTable/formatJson write the chosen format even where a command did not
  // ask for the globals.
  program.hook('preAction', () => {
    useOutputFormat(program.opts<{ output: OutputFormat }>().output);
  });
  registerNexdCommands(program, { globals, write: io.stdout });
  registerNexdSettingsCommands(program, { globals, write: io.stdout });
  const login = () => {
    const o = program.opts<{
      serviceUrl?: string;
      username?: string;
      password?: string;
      caFile?: string;
      insecureSkipTlsVerify?: boolean;
    }>();
    const pick = (flag: string | undefined, name: string) => flag ?? (env[name] || undefined);
    const insecureEnv = (env.NEXD_INSECURE_SKIP_TLS_VERIFY ?? '').toLowerCase();
    return {
      serviceUrl: pick(o.serviceUrl, 'NEXD_SERVICE_URL'),
      username: pick(o.username, 'NEXD_USERNAME'),
      password: pick(o.password, 'NEXD_PASSWORD'),
      caFile: pick(o.caFile, 'NEXD_CA_FILE'),
      insecureSkipTlsVerify:
        o.insecureSkipTlsVerify === true || ['1', 'true', 'yes', 'on'].includes(insecureEnv),
    };
  };
  registerApiCommands(program, { globals, write: io.stdout, login });
  registerResourceCommands(program, { globals, write: io.stdout, login });
  registerInvitationCommands(program, { globals, write: io.stdout, login });
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
