// SPDX-License-Identifier: Apache-2.0
// The original nexctl's `nexd get tunnelip [-6]` and `nexd set debug on|off`, added to the `nexd` group that
// registerNexdCommands created (a file of its own, so the groups' files stay small).
import { ControlClient, controlSocketPath } from '@nexodus/nexd/control';
import type { Command } from 'commander';
import { formatJson } from '../output.js';
import type { CommandContext } from './context.js';

export function registerNexdSettingsCommands(program: Command, ctx: CommandContext): void {
  const nexd = program.commands.find((c) => c.name() === 'nexd');
  if (!nexd) throw new Error('registerNexdCommands must run first');
  const call = async <T>(fn: (c: ControlClient) => Promise<T>): Promise<T> => {
    // `--unix-socket` (on main beside this branch) wins over the state dir's socket.
    const g = ctx.globals() as ReturnType<CommandContext['globals']> & { unixSocket?: string };
    const c = await ControlClient.connect(g.unixSocket ?? controlSocketPath(g.stateDir));
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  };

  const get = nexd.command('get').description('read a setting of the running nexd');
  get
    .command('tunnelip')
    .description("the running nexd's VPC address (IPv4; -6 for IPv6)")
    .option('-6, --ipv6', 'the IPv6 address')
    .action((o: { ipv6?: boolean }) =>
      call(async (c) => {
        const s = await c.call('status');
        const list = o.ipv6 ? s.addresses.ipv6 : s.addresses.ipv4;
        const ip = list[0];
        if (ctx.globals().output === 'json') return ctx.write(formatJson(ip ?? null));
        // No address yet (not registered): exit 1 with a message, as a script would want.
        if (ip === undefined) throw new Error(`nexd has no ${o.ipv6 ? 'IPv6' : 'IPv4'} VPC address yet`);
        ctx.write(`${ip}\n`);
      }),
    );

  const set = nexd.command('set').description('change a setting of the running nexd');
  set
    .command('debug')
    .description('debug logging on or off (off: back to the --log-level nexd started with)')
    .argument('<on|off>', 'on or off')
    .action((value: string, _o: unknown, cmd: Command) => {
      const v = value.toLowerCase();
      if (v !== 'on' && v !== 'off') {
        cmd.error(`error: nexd set debug takes on or off, not ${JSON.stringify(value)}`, {
          code: 'nexctl.badValue',
          exitCode: 2,
        });
      }
      return call(async (c) => {
        const r = await c.call('debug.set', { on: v === 'on' });
        ctx.write(ctx.globals().output === 'json' ? formatJson(r) : `log level ${r.level}\n`);
      });
    });
}
