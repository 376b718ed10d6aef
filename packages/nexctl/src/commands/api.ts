// SPDX-License-Identifier: Apache-2.0
// `nexctl device list|delete`, `nexctl vpc list`: the API basics. Logs in like nexd: --service-url,
// --username/--password (OAuth2 password grant), --ca-file, --insecure-skip-tls-verify, each also from
// the NEXD_* variable nexd reads, so one environment serves both tools. The login follows the original
// clients' flow (the API at https://api.HOST, POST /device/login/start, OIDC discovery at the issuer).
import {
  ApiError,
  type Device,
  NexodusClient,
  OAuthClient,
  OAuthClientError,
  untrustedCertificateCode,
  type Vpc,
} from '@nexodus/api';
import type { Command } from 'commander';
import { formatJson, formatTable } from '../output.js';
import type { CommandContext } from './context.js';

export interface ApiLoginOptions {
  serviceUrl?: string;
  username?: string;
  password?: string;
  caFile?: string;
  insecureSkipTlsVerify?: boolean;
}

export interface ApiCommandContext extends CommandContext {
  login(): ApiLoginOptions;
}

/** A failure talking to the service, with what to do about it. */
export class ApiCommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiCommandError';
  }
}

function explain(url: string, err: unknown): ApiCommandError {
  if (err instanceof ApiCommandError) return err;
  const tls = untrustedCertificateCode(err);
  if (tls) {
    return new ApiCommandError(
      `the certificate of ${url} is not trusted (${tls}); pass its CA with --ca-file FILE, or --insecure-skip-tls-verify for a test service`,
      { cause: err },
    );
  }
  if (err instanceof OAuthClientError) {
    return new ApiCommandError(`login to ${url} refused: ${err.message}; check --username/--password`, {
      cause: err,
    });
  }
  if (err instanceof ApiError && err.status === 0) {
    return new ApiCommandError(`cannot reach ${url}: ${err.message}`, { cause: err });
  }
  if (err instanceof ApiError) {
    return new ApiCommandError(`${url} answered ${err.status}: ${err.message} (${err.code})`, { cause: err });
  }
  return new ApiCommandError(String(err), { cause: err });
}

export async function withApi<T>(ctx: ApiCommandContext, fn: (c: NexodusClient) => Promise<T>): Promise<T> {
  const o = ctx.login();
  if (!o.serviceUrl) {
    throw new ApiCommandError('no service URL: pass --service-url URL (or set NEXD_SERVICE_URL)');
  }
  if (o.username === undefined || o.password === undefined) {
    throw new ApiCommandError(
      'API commands log in with --username and --password (or NEXD_USERNAME and NEXD_PASSWORD)',
    );
  }
  const tls = {
    ...(o.caFile ? { caFile: o.caFile } : {}),
    ...(o.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
  };
  let oauth: OAuthClient | undefined;
  let client: NexodusClient | undefined;
  try {
    const found = await OAuthClient.discover({ serviceUrl: o.serviceUrl, ...tls });
    oauth = found.oauth;
    const tokens = await oauth.passwordGrant(o.username, o.password);
    client = new NexodusClient({ baseUrl: found.apiUrl, token: tokens.access_token, ...tls });
    return await fn(client);
  } catch (err) {
    throw explain(o.serviceUrl, err);
  } finally {
    await client?.close();
    await oauth?.close();
  }
}

const addresses = (d: Device) =>
  [...d.ipv4_tunnel_ips, ...d.ipv6_tunnel_ips].map((t) => t.address).join(',') || undefined;

export function registerApiCommands(program: Command, ctx: ApiCommandContext): void {
  const device = program.command('device').description('devices of the VPCs you can see (API)');
  device
    .command('list')
    .description('list devices')
    .action(() =>
      withApi(ctx, async (c) => {
        const devices = await c.listDevices();
        // Device tokens are secrets: never print them, also not in JSON.
        const shown = devices.map(({ bearer_token: _t, ...d }) => d);
        if (ctx.globals().output === 'json') return ctx.write(formatJson(shown));
        ctx.write(
          formatTable(devices, [
            { header: 'ID', value: (d) => d.id },
            { header: 'HOSTNAME', value: (d) => d.hostname },
            { header: 'ADDRESSES', value: addresses },
            { header: 'PUBLIC KEY', value: (d) => d.public_key },
            { header: 'VPC', value: (d) => d.vpc_id },
            { header: 'ONLINE', value: (d) => (d.online ? 'yes' : 'no') },
          ]),
        );
      }),
    );
  device
    .command('delete <id>')
    .description('delete a device (its peers drop it)')
    .action((id: string) =>
      withApi(ctx, async (c) => {
        const { bearer_token: _t, ...d } = await c.deleteDevice(id);
        if (ctx.globals().output === 'json') return ctx.write(formatJson(d));
        ctx.write(
          `deleted device ${d.id} (${d.hostname || 'no hostname'}, ${addresses(d as Device) ?? '-'})\n`,
        );
      }),
    );
  const vpc = program.command('vpc').description('VPCs (API)');
  vpc
    .command('list')
    .description('list VPCs')
    .action(() =>
      withApi(ctx, async (c) => {
        const vpcs: Vpc[] = await c.listVpcs();
        if (ctx.globals().output === 'json') return ctx.write(formatJson(vpcs));
        ctx.write(
          formatTable(vpcs, [
            { header: 'ID', value: (v) => v.id },
            { header: 'DESCRIPTION', value: (v) => v.description },
            { header: 'IPV4 CIDR', value: (v) => v.ipv4_cidr },
            { header: 'IPV6 CIDR', value: (v) => v.ipv6_cidr },
          ]),
        );
      }),
    );
}
