// SPDX-License-Identifier: Apache-2.0
// Logging in to the service, in order of preference:
//   1. --reg-key / NEXD_REG_KEY: the key itself is the bearer token (no refresh needed); once registered,
//      the device's own token from the state (a used single-use key is refused by the service);
//   2. --username/--password (NEXD_USERNAME/NEXD_PASSWORD): the OAuth2 password grant, every start (so a
//      changed password is noticed at once);
//   3. stored tokens from an earlier login that are still valid or refreshable;
//   4. otherwise the device authorization grant (RFC 8628): print the code and URL, poll until approved.
// User tokens go to a TokenKeeper, which refreshes them before expiry and stores them in the state.
// Where: the original clients' flow (`@nexodus/api` login-flow.ts): the API at https://api.HOST for
// --service-url https://HOST (IP literals and localhost as given), the issuer from POST /device/login/start,
// its endpoints from OIDC discovery, and the grants' id_token verified; so nexd logs in to an original
// Nexodus service (Keycloak behind it) and to ours the same way.
import { readFileSync } from 'node:fs';
import {
  ApiError,
  NexodusClient,
  OAuthClient,
  OAuthClientError,
  resolveApiUrl,
  type TokenResponse,
} from '@nexodus/api';
import type { Logger } from 'pino';
import type { GlobalConfig } from '../config.js';
import { BadFlagError, NexdError } from '../errors.js';
import type { StoredTokens } from '../state/state.js';
import { type StateStore, updateState } from '../state/store.js';
import { TokenKeeper } from '../tokens.js';
import { serviceError } from './failures.js';

const HTTP_UNAUTHORIZED = 401;

export interface LoginOptions {
  config: GlobalConfig;
  store: StateStore;
  logger: Logger;
  /** Where the device-login prompt goes (default: stderr). */
  prompt?: (text: string) => void;
  /** Device login polling interval override (tests). */
  sleep?: (ms: number) => Promise<void>;
}

export interface Session {
  client: NexodusClient;
  oauth: OAuthClient;
  /** Present for user logins (password or device grant). */
  keeper?: TokenKeeper;
  /** How this session logged in, for the log. */
  method: 'reg-key' | 'password' | 'stored-tokens' | 'device-authorization';
  /** The REST API's base URL (https://api.HOST for https://HOST). */
  apiUrl: string;
  close(): Promise<void>;
}

/** The client TLS options from --ca-file / --insecure-skip-tls-verify; an unreadable CA file is a bad flag. */
export function tlsOptions(config: GlobalConfig): { caFile?: string; insecureSkipTlsVerify?: boolean } {
  if (config.caFile) {
    try {
      readFileSync(config.caFile);
    } catch (err) {
      throw new BadFlagError(
        '--ca-file',
        `--ca-file ${config.caFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  }
  return {
    ...(config.caFile ? { caFile: config.caFile } : {}),
    ...(config.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
  };
}

export function toStoredTokens(t: TokenResponse, now = Date.now()): StoredTokens {
  return {
    accessToken: t.access_token,
    ...(t.refresh_token ? { refreshToken: t.refresh_token } : {}),
    ...(t.expires_in !== undefined ? { expiresAt: new Date(now + t.expires_in * 1000).toISOString() } : {}),
  };
}

export async function login(options: LoginOptions): Promise<Session> {
  const { config, store, logger } = options;
  const url = config.serviceUrl;
  if (!url) throw new BadFlagError('--service-url', 'service mode needs a service URL');
  const tls = tlsOptions(config);

  if (config.regKey) {
    // A registration key is the bearer token itself: no identity provider is involved. A restarted nexd
    // uses the device token it stored at registration first: a single-use key is dead once used.
    const apiUrl = await resolveApiUrl(url);
    const oauth = new OAuthClient({ baseUrl: apiUrl, ...tls });
    const session = (client: NexodusClient): Session => ({
      client,
      oauth,
      apiUrl,
      method: 'reg-key',
      close: async () => {
        await client.close();
        await oauth.close();
      },
    });
    const stored = (await store.load()).deviceToken;
    if (stored) {
      const client = new NexodusClient({ baseUrl: apiUrl, token: stored, ...tls });
      // The device may have been deleted (its token with it): then register again with the key.
      const refused = await client.getMe().then(
        () => false,
        (err: unknown) => err instanceof ApiError && err.status === HTTP_UNAUTHORIZED,
      );
      if (!refused) return session(client);
      logger.warn('the stored device token was refused (device deleted?); registering with the key again');
      await client.close();
      await updateState(store, (s) => {
        delete s.deviceToken;
      });
    }
    return session(new NexodusClient({ baseUrl: apiUrl, token: config.regKey, ...tls }));
  }

  let oauth: OAuthClient;
  let apiUrl: string;
  try {
    ({ oauth, apiUrl } = await OAuthClient.discover({ serviceUrl: url, ...tls }));
  } catch (err) {
    throw serviceError('login', url, err);
  }
  const closeAll = async (client?: NexodusClient) => {
    await client?.close();
    await oauth.close();
  };

  const { username, password } = config;
  const relogin = async (): Promise<TokenResponse> => {
    if (username === undefined || password === undefined) {
      throw new NexdError('NEX_ERR_LOGIN', 'the refresh token was refused and no password is configured');
    }
    return oauth.passwordGrant(username, password);
  };
  const keeper = new TokenKeeper({
    store,
    logger,
    refresh: async (refreshToken) => {
      try {
        return toStoredTokens(await oauth.refresh(refreshToken));
      } catch (err) {
        // A refresh token the service no longer accepts: log in again with the password if we have one.
        if (err instanceof OAuthClientError && username !== undefined) return toStoredTokens(await relogin());
        throw err;
      }
    },
  });
  let method: Session['method'];
  try {
    if (username !== undefined && password !== undefined) {
      await keeper.set(toStoredTokens(await oauth.passwordGrant(username, password)));
      method = 'password';
    } else if (await keeper.load()) {
      method = 'stored-tokens';
    } else if (keeper.tokens?.refreshToken && (await refreshStored(oauth, keeper, logger))) {
      method = 'stored-tokens';
    } else {
      await keeper.set(toStoredTokens(await deviceLogin(oauth, logger, options)));
      method = 'device-authorization';
    }
  } catch (err) {
    keeper.stop();
    await closeAll();
    if (err instanceof OAuthClientError && err.error === 'invalid_grant') {
      throw new NexdError(
        'NEX_ERR_LOGIN',
        `login to ${url} refused: ${err.message}; check --username/--password (NEXD_USERNAME/NEXD_PASSWORD)`,
        { cause: err },
      );
    }
    throw serviceError('login', url, err);
  }
  const client = new NexodusClient({
    baseUrl: apiUrl,
    tokenProvider: () => keeper.accessToken ?? '',
    ...tls,
  });
  return {
    client,
    oauth,
    keeper,
    apiUrl,
    method,
    close: async () => {
      keeper.stop();
      await closeAll(client);
    },
  };
}

/** Stored tokens too close to expiry: refresh them now; false (and a device login) if that is refused. */
async function refreshStored(oauth: OAuthClient, keeper: TokenKeeper, logger: Logger): Promise<boolean> {
  try {
    await keeper.set(toStoredTokens(await oauth.refresh(keeper.tokens!.refreshToken!)));
    return true;
  } catch (err) {
    if (!(err instanceof OAuthClientError)) throw err;
    logger.warn({ err: err.message }, 'stored refresh token refused; logging in again');
    return false;
  }
}

async function deviceLogin(
  oauth: OAuthClient,
  logger: Logger,
  options: LoginOptions,
): Promise<TokenResponse> {
  const auth = await oauth.startDeviceAuthorization();
  const where = auth.verification_uri_complete ?? auth.verification_uri;
  const text =
    `To log in, open ${where} and enter the code ${auth.user_code} ` +
    `(valid for ${Math.round(auth.expires_in / 60)} minutes)\n`;
  (options.prompt ?? ((t: string) => process.stderr.write(t)))(text);
  logger.info(
    { userCode: auth.user_code, verificationUri: auth.verification_uri },
    'waiting for the device login to be approved',
  );
  return oauth.pollDeviceToken(auth, options.sleep ? { sleep: options.sleep } : {});
}
