// SPDX-License-Identifier: Apache-2.0

export {
  DEFAULT_CLIENT_ID,
  DEVICE_CODE_GRANT_TYPE,
  type DeviceAuthorization,
  OAuthClient,
  OAuthClientError,
  type OAuthClientOptions,
  type TokenResponse,
  TokenSource,
} from './auth.js';
export { NexodusClient, type NexodusClientOptions } from './client.js';
export { ApiError, type ClientErrorCode } from './errors.js';
export {
  apiUrlFor,
  type DeviceStartResponse,
  discoverLogin,
  LOGIN_SCOPE,
  type LoginEndpoints,
  resolveApiUrl,
  verifyIdToken,
} from './login-flow.js';
export { openApiDocument } from './openapi.js';
export * from './schemas.js';
export { type TlsOptions, untrustedCertificateCode } from './transport.js';
export { MAX_WATCH_LINE, parseWatchStream, WATCH_EXPIRED_CODE } from './watch.js';
