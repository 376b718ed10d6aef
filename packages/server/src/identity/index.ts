// SPDX-License-Identifier: Apache-2.0
// Public surface of the built-in identity provider (exports only).
export type { DeviceAuthorization } from './device-grant.js';
export { IDENTITY_CHANNELS, type LoginEvent, type RefreshReuseEvent } from './diagnostics.js';
export {
  IDENTITY_ERROR_STATUS,
  IdentityError,
  type IdentityErrorCode,
  OAuthError,
  type OAuthErrorValue,
} from './errors.js';
export type { HashGateOptions } from './hash-gate.js';
export { identityMigrations } from './migrations.js';
export { DEFAULT_SCRYPT_PARAMS, type ScryptParams } from './passwords.js';
export type { LoginRateLimitOptions } from './rate-limit.js';
export { identityRoutes } from './routes/plugin.js';
export type { IdentityTables } from './schema.js';
export {
  ADMIN_USERNAME,
  DEFAULT_CLIENT_ID,
  IDENTITY_PATHS,
  IdentityService,
  type IdentityServiceOptions,
  type UserPrincipal,
} from './service.js';
export type { TokenResponse } from './tokens.js';
