// SPDX-License-Identifier: Apache-2.0
// nexlink's login to the Nexodus service, and the VPC it works in: with a password, the user's default VPC
// (the service gives it the user's id, as the original did); with a registration key, the key's VPC.
import { NexodusClient, OAuthClient, resolveApiUrl, type TlsOptions, TokenSource } from '@nexodus/api';
import type { Config } from '../config.js';
import { NexlinkError } from '../errors.js';

export interface Session {
  client: NexodusClient;
  vpcId: string;
  close(): Promise<void>;
}

export async function login(config: Config): Promise<Session> {
  const tls: TlsOptions = {
    ...(config.caFile ? { caFile: config.caFile } : {}),
    ...(config.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
  };
  try {
    if (config.login.kind === 'reg-key') {
      const apiUrl = await resolveApiUrl(config.serviceUrl);
      const client = new NexodusClient({ baseUrl: apiUrl, token: config.login.regKey, ...tls });
      const key = await client.getRegKey('me');
      if (!key.vpc_id) throw new Error('the registration key names no VPC');
      return { client, vpcId: key.vpc_id, close: () => client.close() };
    }
    const { username, password } = config.login;
    const { oauth, apiUrl } = await OAuthClient.discover({ serviceUrl: config.serviceUrl, ...tls });
    const tokens = new TokenSource(oauth, await oauth.passwordGrant(username, password), () =>
      oauth.passwordGrant(username, password),
    );
    const client = new NexodusClient({ baseUrl: apiUrl, tokenProvider: tokens.getToken, ...tls });
    const me = await client.getMe();
    const vpcs = await client.listVpcs();
    const vpc = vpcs.find((v) => v.id === me.id) ?? vpcs[0];
    if (!vpc) throw new Error(`user ${username} has no VPC`);
    return {
      client,
      vpcId: vpc.id,
      close: async () => {
        await client.close();
        await oauth.close();
      },
    };
  } catch (err) {
    throw new NexlinkError(
      'NEX_ERR_NEXLINK_LOGIN',
      `cannot log in to ${config.serviceUrl}: ${(err as Error).message}; check the URL and the credentials`,
      { cause: err },
    );
  }
}
