#!/usr/bin/env -S node --initial-old-space-size=64
// SPDX-License-Identifier: Apache-2.0
// The `nexd` bin. All logic lives in run.ts.
// The V8 flag above: under a bulk transfer the data plane's young generation grows to its 16 MB cap,
// and V8 then starts a full mark-compact whenever the old generation's headroom is below that, which
// with nexd's ~12 MB heap is after every collection: a mark-compact every 60-80 ms, about 10% of the
// sending proxy's CPU in bench:proxy. A configured initial old-space size keeps the headroom;
// the heap grows only as far as garbage actually accumulates. V8 takes it only on the command line
// (not in NODE_OPTIONS), hence the shebang; `node --initial-old-space-size=64 cli.js` is the same.
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
