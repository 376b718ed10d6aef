// SPDX-License-Identifier: Apache-2.0
// Public surface of @nexodus/server (exports only).
export { type BuildAppOptions, buildApp, DEFAULT_BODY_LIMIT, DEFAULT_BOOKMARK_MS } from './app.js';
export { migrateToLatest } from './db/migrate.js';
export {
  type DatabaseKind,
  databaseKind,
  identityView,
  type OpenDatabaseOptions,
  openDatabase,
} from './db/open.js';
export type { CoreTables, Database } from './db/schema.js';
export { ERRORS, NexError, type NexErrorCode } from './errors.js';
export { IdentityService } from './identity/index.js';
export type { DevicePrincipal, Principal, RegKeyPrincipal, UserPrincipal } from './principal.js';
export { DEFAULT_STATE_DIR, type RunningServer, type ServerOptions, startServer } from './server.js';
export { createSelfSignedCertificate, ensureSelfSigned } from './tls.js';
