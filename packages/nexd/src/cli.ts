#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The `nexd` bin. All logic lives in run.ts.
import { processIo, runNexd } from './run.js';

runNexd(process.argv.slice(2), process.env, processIo).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `nexd: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
