// SPDX-License-Identifier: Apache-2.0
// The original nexctl's API command groups beyond `device list|delete` and `vpc list` (api.ts): device
// get/update and metadata, vpc get/create/update/delete and metadata, organization (and its users), user,
// reg-key, security-group (rules as flags) and version. Ids are positional or given as the original's flags
// (`--device-id`, `--vpc-id`, ...). Every command prints a table, or the object in the structured --output.
import type { Device, SecurityRule } from '@nexodus/api';
import { type Command, Option } from 'commander';
import { type Column, formatJson, formatTable } from '../output.js';
import { type ApiCommandContext, ApiCommandError, withApi } from './api.js';

/** The nexctl version (the package's; the same numbering as nexd). */
export const NEXCTL_VERSION = '0.1.0';

export const idOf = (positional: string | undefined, flag: string | undefined, name: string): string => {
  const id = positional ?? flag;
  if (!id) throw new ApiCommandError(`give the ${name} id as an argument or with --${name}-id`);
  return id;
};

/** `tcp:80-443:10.0.0.0/8,100.100.0.1-100.100.0.9`, `icmp::`, `udp:53` (the ports and ranges optional). */
export function parseRule(text: string): SecurityRule {
  const [proto = '', ports = '', ranges = ''] = text.split(':');
  const rule: SecurityRule = { ip_protocol: proto.toLowerCase() as SecurityRule['ip_protocol'] };
  if (ports !== '') {
    const [from, to = from] = ports.split('-');
    const f = Number(from);
    const t = Number(to);
    if (!Number.isInteger(f) || !Number.isInteger(t) || f < 0 || t > 65535 || f > t) {
      throw new ApiCommandError(`rule ${JSON.stringify(text)}: ports must be N or N-M within 0-65535`);
    }
    rule.from_port = f;
    rule.to_port = t;
  }
  if (ranges !== '') rule.ip_ranges = ranges.split(',').filter(Boolean);
  return rule;
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function show<T>(ctx: ApiCommandContext, value: T | T[], columns: Column<T>[]): void {
  if (ctx.globals().output === 'json') ctx.write(formatJson(value));
  else ctx.write(formatTable(Array.isArray(value) ? value : [value], columns));
}

const noToken = ({ bearer_token: _t, ...d }: Device) => d as Device;

export function registerResourceCommands(program: Command, ctx: ApiCommandContext): void {
  const group = (name: string, description: string) =>
    program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);

  // devices
  const device = group('device', 'devices of the VPCs you can see (API)');
  const deviceCols: Column<Device>[] = [
    { header: 'ID', value: (d) => d.id },
    { header: 'HOSTNAME', value: (d) => d.hostname },
    { header: 'VPC', value: (d) => d.vpc_id },
    { header: 'PUBLIC KEY', value: (d) => d.public_key },
  ];
  device
    .command('get [id]')
    .description('one device')
    .option('--device-id <id>')
    .action((id: string | undefined, o: { deviceId?: string }) =>
      withApi(ctx, async (c) =>
        show(ctx, noToken(await c.getDevice(idOf(id, o.deviceId, 'device'))), deviceCols),
      ),
    );
  device
    .command('update [id]')
    .description("change a device's hostname or security group")
    .option('--device-id <id>')
    .option('--hostname <name>')
    .option('--security-group-id <id>')
    .action((id: string | undefined, o: { deviceId?: string; hostname?: string; securityGroupId?: string }) =>
      withApi(ctx, async (c) => {
        const d = await c.updateDevice(idOf(id, o.deviceId, 'device'), {
          ...(o.hostname !== undefined ? { hostname: o.hostname } : {}),
          ...(o.securityGroupId !== undefined ? { security_group_id: o.securityGroupId } : {}),
        });
        show(ctx, noToken(d), deviceCols);
      }),
    );
  const metadata = device.command('metadata').description("a device's metadata (key -> JSON value)");
  const metaCols: Column<{ device_id: string; key: string; value: unknown }>[] = [
    { header: 'DEVICE', value: (m) => m.device_id },
    { header: 'KEY', value: (m) => m.key },
    { header: 'VALUE', value: (m) => JSON.stringify(m.value) },
  ];
  metadata
    .command('get [id]')
    .description('all keys, or one with --key')
    .option('--device-id <id>')
    .option('--key <key>')
    .action((id: string | undefined, o: { deviceId?: string; key?: string }) =>
      withApi(ctx, async (c) => {
        const d = idOf(id, o.deviceId, 'device');
        show(ctx, o.key ? await c.getDeviceMetadata(d, o.key) : await c.listDeviceMetadata(d), metaCols);
      }),
    );
  metadata
    .command('set [id]')
    .description('set --key to --value (JSON; text that is not JSON is stored as a string)')
    .option('--device-id <id>')
    .requiredOption('--key <key>')
    .requiredOption('--value <value>')
    .action((id: string | undefined, o: { deviceId?: string; key: string; value: string }) =>
      withApi(ctx, async (c) => {
        let value: unknown;
        try {
          value = JSON.parse(o.value);
        } catch {
          value = o.value;
        }
        show(ctx, await c.setDeviceMetadata(idOf(id, o.deviceId, 'device'), o.key, value), metaCols);
      }),
    );
  metadata
    .command('delete [id]')
    .description('delete one key')
    .option('--device-id <id>')
    .requiredOption('--key <key>')
    .action((id: string | undefined, o: { deviceId?: string; key: string }) =>
      withApi(ctx, async (c) =>
        show(ctx, await c.deleteDeviceMetadata(idOf(id, o.deviceId, 'device'), o.key), metaCols),
      ),
    );
  metadata
    .command('clear [id]')
    .description('delete every key of the device')
    .option('--device-id <id>')
    .action((id: string | undefined, o: { deviceId?: string }) =>
      withApi(ctx, async (c) => {
        const d = idOf(id, o.deviceId, 'device');
        await c.clearDeviceMetadata(d);
        if (ctx.globals().output === 'json') return ctx.write(formatJson({ device_id: d, cleared: true }));
        ctx.write(`cleared the metadata of device ${d}\n`);
      }),
    );

  // VPCs
  const vpc = group('vpc', 'VPCs (API)');
  type V = Awaited<ReturnType<Parameters<Parameters<typeof withApi>[1]>[0]['getVpc']>>;
  const vpcCols: Column<V>[] = [
    { header: 'ID', value: (v) => v.id },
    { header: 'DESCRIPTION', value: (v) => v.description },
    { header: 'IPV4 CIDR', value: (v) => v.ipv4_cidr },
    { header: 'IPV6 CIDR', value: (v) => v.ipv6_cidr },
    { header: 'ORGANIZATION', value: (v) => v.organization_id },
  ];
  vpc
    .command('get [id]')
    .option('--vpc-id <id>')
    .description('one VPC')
    .action((id: string | undefined, o: { vpcId?: string }) =>
      withApi(ctx, async (c) => show(ctx, await c.getVpc(idOf(id, o.vpcId, 'vpc')), vpcCols)),
    );
  vpc
    .command('create')
    .description('create a VPC in an organization')
    .requiredOption('--organization-id <id>')
    .option('--description <text>')
    .option('--ipv4-cidr <cidr>')
    .option('--ipv6-cidr <cidr>')
    .option('--private-cidr', 'the CIDRs are private to this VPC')
    .action(
      (o: {
        organizationId: string;
        description?: string;
        ipv4Cidr?: string;
        ipv6Cidr?: string;
        privateCidr?: boolean;
      }) =>
        withApi(ctx, async (c) =>
          show(
            ctx,
            await c.createVpc({
              organization_id: o.organizationId,
              ...(o.description !== undefined ? { description: o.description } : {}),
              ...(o.ipv4Cidr ? { ipv4_cidr: o.ipv4Cidr } : {}),
              ...(o.ipv6Cidr ? { ipv6_cidr: o.ipv6Cidr } : {}),
              ...(o.privateCidr ? { private_cidr: true } : {}),
            }),
            vpcCols,
          ),
        ),
    );
  vpc
    .command('update [id]')
    .option('--vpc-id <id>')
    .requiredOption('--description <text>')
    .description("change a VPC's description")
    .action((id: string | undefined, o: { vpcId?: string; description: string }) =>
      withApi(ctx, async (c) =>
        show(ctx, await c.updateVpc(idOf(id, o.vpcId, 'vpc'), { description: o.description }), vpcCols),
      ),
    );
  vpc
    .command('delete [id]')
    .option('--vpc-id <id>')
    .description('delete a VPC and everything in it')
    .action((id: string | undefined, o: { vpcId?: string }) =>
      withApi(ctx, async (c) => show(ctx, await c.deleteVpc(idOf(id, o.vpcId, 'vpc')), vpcCols)),
    );
  vpc
    .command('metadata [id]')
    .option('--vpc-id <id>')
    .option('--key <key>', 'only this key (repeatable)', collect)
    .option('--prefix <prefix>', 'only keys starting with it (repeatable)', collect)
    .description('the metadata of every device of a VPC')
    .action((id: string | undefined, o: { vpcId?: string; key?: string[]; prefix?: string[] }) =>
      withApi(ctx, async (c) =>
        show(
          ctx,
          await c.listMetadataInVpc(idOf(id, o.vpcId, 'vpc'), {
            ...(o.key ? { key: o.key } : {}),
            ...(o.prefix ? { prefix: o.prefix } : {}),
          }),
          metaCols,
        ),
      ),
    );

  // organizations
  const org = group('organization', 'organizations (API)');
  const orgCols: Column<{ id: string; name: string; description: string }>[] = [
    { header: 'ID', value: (x) => x.id },
    { header: 'NAME', value: (x) => x.name },
    { header: 'DESCRIPTION', value: (x) => x.description },
  ];
  org
    .command('list')
    .description('your organizations')
    .action(() => withApi(ctx, async (c) => show(ctx, await c.listOrganizations(), orgCols)));
  org
    .command('create')
    .requiredOption('--name <name>')
    .option('--description <text>')
    .description('create an organization')
    .action((o: { name: string; description?: string }) =>
      withApi(ctx, async (c) =>
        show(
          ctx,
          await c.createOrganization({
            name: o.name,
            ...(o.description !== undefined ? { description: o.description } : {}),
          }),
          orgCols,
        ),
      ),
    );
  org
    .command('delete [id]')
    .option('--organization-id <id>')
    .description('delete an organization without VPCs')
    .action((id: string | undefined, o: { organizationId?: string }) =>
      withApi(ctx, async (c) =>
        show(ctx, await c.deleteOrganization(idOf(id, o.organizationId, 'organization')), orgCols),
      ),
    );
  org
    .command('users [id]')
    .option('--organization-id <id>')
    .description('the members of an organization')
    .action((id: string | undefined, o: { organizationId?: string }) =>
      withApi(ctx, async (c) =>
        show(ctx, await c.listOrganizationUsers(idOf(id, o.organizationId, 'organization')), [
          { header: 'USER ID', value: (m) => m.user_id },
          { header: 'USERNAME', value: (m) => m.user.username },
          { header: 'ROLES', value: (m) => m.roles.join(',') },
        ]),
      ),
    );

  // users
  const user = group('user', 'users (API)');
  const userCols: Column<{ id: string; username: string; full_name: string }>[] = [
    { header: 'ID', value: (u) => u.id },
    { header: 'USERNAME', value: (u) => u.username },
    { header: 'FULL NAME', value: (u) => u.full_name || undefined },
  ];
  user
    .command('get-current')
    .description('the user you are logged in as')
    .action(() => withApi(ctx, async (c) => show(ctx, await c.getMe(), userCols)));
  user
    .command('list')
    .description('the users you can see')
    .action(() => withApi(ctx, async (c) => show(ctx, await c.listUsers(), userCols)));

  // registration keys
  const regKey = group('reg-key', 'registration keys (API)');
  type K = Awaited<ReturnType<Parameters<Parameters<typeof withApi>[1]>[0]['getRegKey']>>;
  const keyCols: Column<K>[] = [
    { header: 'ID', value: (k) => k.id },
    { header: 'VPC', value: (k) => k.vpc_id },
    { header: 'DESCRIPTION', value: (k) => k.description },
    { header: 'SINGLE USE', value: (k) => (k.single_use ? 'yes' : 'no') },
    { header: 'EXPIRES', value: (k) => k.expires_at },
    { header: 'TOKEN', value: (k) => k.bearer_token },
  ];
  regKey
    .command('list')
    .description('your registration keys')
    .action(() => withApi(ctx, async (c) => show(ctx, await c.listRegKeys(), keyCols)));
  regKey
    .command('create')
    .requiredOption('--vpc-id <id>')
    .option('--description <text>')
    .option('--single-use', 'the key registers one device')
    .option('--expiration <duration>', 'valid for this long: i.e. 30m, 12h, 7d')
    .option('--security-group-id <id>')
    .description('create a registration key (nexd --reg-key URL#TOKEN)')
    .action(
      (o: {
        vpcId: string;
        description?: string;
        singleUse?: boolean;
        expiration?: string;
        securityGroupId?: string;
      }) =>
        withApi(ctx, async (c) => {
          let expiresAt: string | undefined;
          if (o.expiration) {
            const m = /^(\d+)([smhd])$/.exec(o.expiration);
            if (!m) throw new ApiCommandError(`--expiration ${o.expiration}: expected i.e. 30m, 12h or 7d`);
            const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
            expiresAt = new Date(Date.now() + Number(m[1]) * unit * 1000).toISOString();
          }
          const k = await c.createRegKey({
            vpc_id: o.vpcId,
            ...(o.description !== undefined ? { description: o.description } : {}),
            ...(o.singleUse ? { single_use: true } : {}),
            ...(expiresAt ? { expires_at: expiresAt } : {}),
            ...(o.securityGroupId ? { security_group_id: o.securityGroupId } : {}),
          });
          show(ctx, k, keyCols);
        }),
    );
  regKey
    .command('update [id]')
    .option('--reg-key-id <id>')
    .option('--description <text>')
    .option('--security-group-id <id>')
    .description('change a registration key')
    .action(
      (id: string | undefined, o: { regKeyId?: string; description?: string; securityGroupId?: string }) =>
        withApi(ctx, async (c) =>
          show(
            ctx,
            await c.updateRegKey(idOf(id, o.regKeyId, 'reg-key'), {
              ...(o.description !== undefined ? { description: o.description } : {}),
              ...(o.securityGroupId !== undefined ? { security_group_id: o.securityGroupId } : {}),
            }),
            keyCols,
          ),
        ),
    );
  regKey
    .command('delete [id]')
    .option('--reg-key-id <id>')
    .description('delete a registration key')
    .action((id: string | undefined, o: { regKeyId?: string }) =>
      withApi(ctx, async (c) => show(ctx, await c.deleteRegKey(idOf(id, o.regKeyId, 'reg-key')), keyCols)),
    );

  // security groups
  const sg = group('security-group', 'security groups (API)');
  type G = Awaited<ReturnType<Parameters<Parameters<typeof withApi>[1]>[0]['getSecurityGroup']>>;
  const rules = (l: SecurityRule[] | undefined) =>
    (l ?? [])
      .map((r) => `${r.ip_protocol}:${r.from_port ?? 0}-${r.to_port ?? 0}:${(r.ip_ranges ?? []).join(',')}`)
      .join(' ') || undefined;
  const sgCols: Column<G>[] = [
    { header: 'ID', value: (g) => g.id },
    { header: 'VPC', value: (g) => g.vpc_id },
    { header: 'DESCRIPTION', value: (g) => g.description },
    { header: 'INBOUND', value: (g) => rules(g.inbound_rules) },
    { header: 'OUTBOUND', value: (g) => rules(g.outbound_rules) },
  ];
  const ruleHelp = 'a rule PROTO[:FROM[-TO][:CIDR,...]], i.e. tcp:443:10.0.0.0/8 (repeatable)';
  sg.command('list')
    .description('security groups')
    .option('--vpc-id <id>', 'only those of this VPC')
    .action((o: { vpcId?: string }) =>
      withApi(ctx, async (c) =>
        show(ctx, o.vpcId ? await c.listSecurityGroupsInVpc(o.vpcId) : await c.listSecurityGroups(), sgCols),
      ),
    );
  sg.command('create')
    .requiredOption('--vpc-id <id>')
    .option('--description <text>')
    .addOption(new Option('--inbound-rule <rule>', ruleHelp).argParser(collect))
    .addOption(new Option('--outbound-rule <rule>', ruleHelp).argParser(collect))
    .description('create a security group')
    .action((o: { vpcId: string; description?: string; inboundRule?: string[]; outboundRule?: string[] }) =>
      withApi(ctx, async (c) =>
        show(
          ctx,
          await c.createSecurityGroup({
            vpc_id: o.vpcId,
            ...(o.description !== undefined ? { description: o.description } : {}),
            ...(o.inboundRule ? { inbound_rules: o.inboundRule.map(parseRule) } : {}),
            ...(o.outboundRule ? { outbound_rules: o.outboundRule.map(parseRule) } : {}),
          }),
          sgCols,
        ),
      ),
    );
  sg.command('update [id]')
    .option('--security-group-id <id>')
    .option('--description <text>')
    .addOption(new Option('--inbound-rule <rule>', `${ruleHelp}; replaces the list`).argParser(collect))
    .addOption(new Option('--outbound-rule <rule>', `${ruleHelp}; replaces the list`).argParser(collect))
    .description('change a security group')
    .action(
      (
        id: string | undefined,
        o: {
          securityGroupId?: string;
          description?: string;
          inboundRule?: string[];
          outboundRule?: string[];
        },
      ) =>
        withApi(ctx, async (c) =>
          show(
            ctx,
            await c.updateSecurityGroup(idOf(id, o.securityGroupId, 'security-group'), {
              ...(o.description !== undefined ? { description: o.description } : {}),
              ...(o.inboundRule ? { inbound_rules: o.inboundRule.map(parseRule) } : {}),
              ...(o.outboundRule ? { outbound_rules: o.outboundRule.map(parseRule) } : {}),
            }),
            sgCols,
          ),
        ),
    );
  sg.command('delete [id]')
    .option('--security-group-id <id>')
    .description('delete a security group')
    .action((id: string | undefined, o: { securityGroupId?: string }) =>
      withApi(ctx, async (c) =>
        show(ctx, await c.deleteSecurityGroup(idOf(id, o.securityGroupId, 'security-group')), sgCols),
      ),
    );

  program
    .command('version')
    .description('the nexctl version')
    .action(() =>
      ctx.write(
        ctx.globals().output === 'json'
          ? formatJson({ version: NEXCTL_VERSION })
          : `nexctl ${NEXCTL_VERSION}\n`,
      ),
    );
}
