// SPDX-License-Identifier: Apache-2.0
// `nexctl nexd ...`: talk to a running nexd over its control socket in the state dir.

import { isIP } from 'node:net';
import { ControlClient, controlSocketPath, type ProxyRuleParams } from '@nexodus/nexd/control';
import { type Command, Option } from 'commander';
import { formatJson, formatPairs, formatTable } from '../output.js';
import type { CommandContext } from './context.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

async function withClient<T>(ctx: CommandContext, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const client = await ControlClient.connect(
    ctx.globals().unixSocket ?? controlSocketPath(ctx.globals().stateDir),
  );
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function ruleParams(opts: { ingress?: string[]; egress?: string[] }, cmd: Command): ProxyRuleParams {
  if (!opts.ingress?.length && !opts.egress?.length) {
    cmd.error('error: give at least one --ingress or --egress rule, i.e. --ingress tcp:8080:127.0.0.1:80', {
      code: 'nexctl.noRule',
      exitCode: 2,
    });
  }
  return {
    ...(opts.ingress ? { ingress: opts.ingress } : {}),
    ...(opts.egress ? { egress: opts.egress } : {}),
  };
}

const bytes = (n: number) =>
  n < 1024 ? `${n}B` : n < 1048576 ? `${(n / 1024).toFixed(1)}KiB` : `${(n / 1048576).toFixed(1)}MiB`;

export function registerNexdCommands(program: Command, ctx: CommandContext): void {
  const nexd = program
    .command('nexd')
    .description('talk to the nexd running on this machine (control socket)');

  nexd
    .command('version')
    .description("print the running nexd's version")
    .action(() =>
      withClient(ctx, async (c) => {
        const v = await c.call('version');
        ctx.write(ctx.globals().output === 'json' ? formatJson(v) : `nexd ${v.version}\n`);
      }),
    );

  nexd
    .command('status')
    .description('addresses, keys, readiness and counters of the running nexd')
    .action(() =>
      withClient(ctx, async (c) => {
        const s = await c.call('status');
        if (ctx.globals().output === 'json') return ctx.write(formatJson(s));
        ctx.write(
          formatPairs([
            ['version', s.version],
            ['mode', s.mode],
            ['ready', s.ready ? 'yes' : `no (waiting for ${s.pending.join(', ')})`],
            ['device id', s.deviceId],
            ['public key', s.publicKey],
            ['ipv4', s.addresses.ipv4.join(' ') || undefined],
            ['ipv6', s.addresses.ipv6.join(' ') || undefined],
            ['proxy rules', s.rules],
            ['tcp connections', s.activeConnections],
            ['udp flows', s.udpFlows],
            ['uptime', `${s.uptimeSeconds}s`],
            ['state', s.stateLocation],
            ['send drops', nonZero(s.drops?.send)],
            ['receive drops', nonZero(s.drops?.receive)],
            ['netstack drops', nonZero(s.drops?.netstack)],
          ]),
        );
      }),
    );

  nexd
    .command('peers')
    .description('WireGuard peers of the running nexd')
    .action(() =>
      withClient(ctx, async (c) => {
        const peers = await c.call('peers');
        if (ctx.globals().output === 'json') return ctx.write(formatJson(peers));
        ctx.write(
          formatTable(peers, [
            { header: 'PUBLIC KEY', value: (p) => p.publicKey },
            { header: 'PATH', value: (p) => p.path },
            { header: 'ENDPOINT', value: (p) => p.endpoint },
            { header: 'ALLOWED IPS', value: (p) => p.allowedIps.join(',') },
            { header: 'LATEST HANDSHAKE', value: (p) => p.latestHandshake },
            { header: 'RX', value: (p) => bytes(p.rxBytes) },
            { header: 'TX', value: (p) => bytes(p.txBytes) },
          ]),
        );
      }),
    );

  const peersCmd = nexd.commands.find((c) => c.name() === 'peers')!;
  for (const [name, family] of [
    ['ping', 4],
    ['ping6', 6],
  ] as const) {
    peersCmd
      .command(`${name} [address]`)
      .description(
        `ICMP${family === 6 ? 'v6' : ''} echo through the tunnel to ADDRESS, or to every peer's IPv${family} address`,
      )
      .option('-c, --count <n>', 'echo requests per address (1-20)', '3')
      .option('-W, --timeout <ms>', 'wait this long for each reply', '2000')
      .action((address: string | undefined, opts: { count: string; timeout: string }, cmd: Command) =>
        withClient(ctx, async (c) => {
          const targets: string[] = [];
          if (address !== undefined) {
            if (isIP(address) !== family) {
              cmd.error(`error: ${JSON.stringify(address)} is not an IPv${family} address`, {
                code: 'nexctl.badAddress',
                exitCode: 2,
              });
            }
            targets.push(address);
          } else {
            for (const p of await c.call('peers')) {
              const a = p.allowedIps.map((x) => x.split('/')[0]!).find((x) => isIP(x) === family);
              if (a) targets.push(a);
            }
          }
          const rows: { address: string; sent: number; received: number; rtt: number[] }[] = [];
          for (const t of targets) {
            const results = await c.call('ping', {
              address: t,
              count: Number(opts.count),
              timeoutMs: Number(opts.timeout),
            });
            const rtt = results.flatMap((r) => (r.rttMs !== undefined ? [r.rttMs] : []));
            rows.push({ address: t, sent: results.length, received: rtt.length, rtt });
            if (ctx.globals().output !== 'json') {
              for (const r of results) {
                ctx.write(
                  r.rttMs !== undefined
                    ? `reply from ${r.address}: seq=${r.seq} time=${r.rttMs.toFixed(2)} ms\n`
                    : `no reply from ${r.address}: seq=${r.seq} ${r.error}\n`,
                );
              }
            }
          }
          if (ctx.globals().output === 'json') ctx.write(formatJson(rows));
          // Exit status as ping(8): 0 when every address answered at least once, else 1 with a reason.
          if (rows.length === 0) throw new Error(`no peer has an IPv${family} address to ping`);
          const silent = rows.filter((r) => r.received === 0).map((r) => r.address);
          if (silent.length > 0) throw new Error(`no reply from ${silent.join(', ')}`);
        }),
      );
  }

  const proxy = nexd
    .command('proxy')
    .description('list, add and remove proxy rules at runtime (added rules persist)');
  const ruleOptions = (cmd: Command) =>
    cmd
      .addOption(
        new Option('--ingress <rule>', 'ingress rule protocol:port:destination:destination_port').argParser(
          collect,
        ),
      )
      .addOption(
        new Option('--egress <rule>', 'egress rule protocol:port:destination:destination_port').argParser(
          collect,
        ),
      );

  proxy
    .command('list')
    .description('rules with their counters')
    .action(() =>
      withClient(ctx, async (c) => {
        const rules = await c.call('proxy.list');
        const output = ctx.globals().output;
        if (output === 'json') return ctx.write(formatJson(rules));
        if (ctx.globals().format === 'flags')
          return ctx.write(rules.map((r) => `--${r.type} ${r.rule}\n`).join(''));
        // No rules, no output (as the original nexctl): a header alone reads like a broken listing.
        if (rules.length === 0) return;
        ctx.write(
          formatTable(rules, [
            { header: 'TYPE', value: (r) => r.type },
            { header: 'RULE', value: (r) => r.rule },
            { header: 'ORIGIN', value: (r) => r.origin },
            { header: 'CONNECTIONS', value: (r) => r.connections },
            { header: 'ACTIVE', value: (r) => r.active },
            { header: 'TO DEST', value: (r) => bytes(r.bytesToDestination) },
            { header: 'FROM DEST', value: (r) => bytes(r.bytesFromDestination) },
            { header: 'DIAL FAILURES', value: (r) => r.dialFailures },
          ]),
        );
      }),
    );

  ruleOptions(
    proxy.command('add').description('add rules (all or none); they are saved in the state store'),
  ).action((opts: { ingress?: string[]; egress?: string[] }, cmd: Command) =>
    withClient(ctx, async (c) => {
      const r = await c.call('proxy.add', ruleParams(opts, cmd));
      if (ctx.globals().output === 'json') return ctx.write(formatJson(r));
      ctx.write(r.added.map((x) => `added ${x.type} ${x.rule}\n`).join(''));
    }),
  );

  ruleOptions(
    proxy.command('remove').description('remove rules; the last rule on a port closes the port'),
  ).action((opts: { ingress?: string[]; egress?: string[] }, cmd: Command) =>
    withClient(ctx, async (c) => {
      const r = await c.call('proxy.remove', ruleParams(opts, cmd));
      if (ctx.globals().output === 'json') return ctx.write(formatJson(r));
      ctx.write(r.removed.map((x) => `removed ${x.type} ${x.rule}\n`).join(''));
    }),
  );
}

/** `noRoute 3, socketTooBig 1` (the counters that are not zero), `none`, or undefined when not reported. */
function nonZero(counters: Record<string, number> | undefined): string | undefined {
  if (counters === undefined) return undefined;
  const parts = Object.entries(counters)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}
