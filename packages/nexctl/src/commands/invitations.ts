// SPDX-License-Identifier: Apache-2.0
// `nexctl invitation create|list|accept|delete` and `nexctl service-network list|create|update|delete`:
// the original nexctl's groups for /api/invitations and /api/service-networks. Ids are positional or given
// with the original's flags (`--invitation-id`, `--service-network-id`).
import type { Invitation, ServiceNetwork } from '@nexodus/api';
import { type Command, Option } from 'commander';
import { type Column, formatJson } from '../output.js';
import { type ApiCommandContext, ApiCommandError, withApi } from './api.js';
import { idOf, show } from './resources.js';

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export function registerInvitationCommands(program: Command, ctx: ApiCommandContext): void {
  const inv = program.command('invitation').description('invitations into organizations (API)');
  const invCols: Column<Invitation>[] = [
    { header: 'ID', value: (i) => i.id },
    { header: 'ORGANIZATION', value: (i) => i.organization?.name ?? i.organization_id },
    { header: 'FROM', value: (i) => i.from?.username },
    { header: 'TO', value: (i) => i.email ?? i.user_id },
    { header: 'ROLES', value: (i) => i.roles.join(',') },
    { header: 'EXPIRES', value: (i) => i.expires_at },
  ];
  inv
    .command('list')
    .description('invitations for you and into the organizations you own')
    .action(() => withApi(ctx, async (c) => show(ctx, await c.listInvitations(), invCols)));
  inv
    .command('create')
    .description('invite a user (by id or e-mail) into an organization you own')
    .requiredOption('--organization-id <id>')
    .option('--user-id <id>', 'the user to invite')
    .option('--email <address>', 'the e-mail address (login name) to invite')
    .addOption(
      new Option('--role <role>', 'a role in the organization (repeatable; default member)')
        .choices(['owner', 'member'])
        .argParser(collect),
    )
    .action((o: { organizationId: string; userId?: string; email?: string; role?: string[] }) =>
      withApi(ctx, async (c) => {
        if (!o.userId === !o.email) throw new ApiCommandError('give exactly one of --user-id or --email');
        const created = await c.createInvitation({
          organization_id: o.organizationId,
          ...(o.userId ? { user_id: o.userId } : {}),
          ...(o.email ? { email: o.email } : {}),
          ...(o.role ? { roles: o.role as ('owner' | 'member')[] } : {}),
        });
        show(ctx, created, invCols);
      }),
    );
  inv
    .command('accept [id]')
    .option('--invitation-id <id>')
    .description('join the organization of an invitation for you')
    .action((id: string | undefined, o: { invitationId?: string }) =>
      withApi(ctx, async (c) => {
        const i = idOf(id, o.invitationId, 'invitation');
        await c.acceptInvitation(i);
        if (ctx.globals().output === 'json') return ctx.write(formatJson({ id: i, accepted: true }));
        ctx.write(`accepted invitation ${i}\n`);
      }),
    );
  inv
    .command('delete [id]')
    .option('--invitation-id <id>')
    .description('decline (invitee) or withdraw (owner) an invitation')
    .action((id: string | undefined, o: { invitationId?: string }) =>
      withApi(ctx, async (c) => {
        const i = idOf(id, o.invitationId, 'invitation');
        await c.deleteInvitation(i);
        if (ctx.globals().output === 'json') return ctx.write(formatJson({ id: i, deleted: true }));
        ctx.write(`deleted invitation ${i}\n`);
      }),
    );

  const sn = program.command('service-network').description('service networks of your organizations (API)');
  const snCols: Column<ServiceNetwork>[] = [
    { header: 'ID', value: (s) => s.id },
    { header: 'ORGANIZATION', value: (s) => s.organization_id },
    { header: 'DESCRIPTION', value: (s) => s.description },
    { header: 'REVISION', value: (s) => s.revision },
  ];
  sn.command('list')
    .description('service networks, by description')
    .action(() => withApi(ctx, async (c) => show(ctx, await c.listServiceNetworks(), snCols)));
  sn.command('create')
    .requiredOption('--organization-id <id>')
    .option('--description <text>')
    .description('create a service network in an organization')
    .action((o: { organizationId: string; description?: string }) =>
      withApi(ctx, async (c) =>
        show(
          ctx,
          await c.createServiceNetwork({
            organization_id: o.organizationId,
            ...(o.description !== undefined ? { description: o.description } : {}),
          }),
          snCols,
        ),
      ),
    );
  sn.command('update [id]')
    .option('--service-network-id <id>')
    .option('--description <text>')
    .description('change a service network')
    .action((id: string | undefined, o: { serviceNetworkId?: string; description?: string }) =>
      withApi(ctx, async (c) =>
        show(
          ctx,
          await c.updateServiceNetwork(idOf(id, o.serviceNetworkId, 'service-network'), {
            ...(o.description !== undefined ? { description: o.description } : {}),
          }),
          snCols,
        ),
      ),
    );
  sn.command('delete [id]')
    .option('--service-network-id <id>')
    .description('delete a service network without sites')
    .action((id: string | undefined, o: { serviceNetworkId?: string }) =>
      withApi(ctx, async (c) =>
        show(ctx, await c.deleteServiceNetwork(idOf(id, o.serviceNetworkId, 'service-network')), snCols),
      ),
    );
}
