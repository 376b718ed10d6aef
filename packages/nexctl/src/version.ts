// SPDX-License-Identifier: Apache-2.0
import { createRequire } from 'node:module';

// package.json is one level above both src/ (tsx) and dist/ (built), so one path serves both.
export const NEXCTL_VERSION: string = (
  createRequire(import.meta.url)('../package.json') as { version: string }
).version;
