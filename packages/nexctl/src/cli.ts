#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The `nexctl` bin. All logic lives in run.ts.
import { runNexctl } from './run.js';

runNexctl(process.argv.slice(2), process.env, {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
}).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `nexctl: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
