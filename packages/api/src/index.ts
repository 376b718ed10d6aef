// SPDX-License-Identifier: Apache-2.0
export { openApiDocument } from './openapi.js';
export * from './schemas.js';
