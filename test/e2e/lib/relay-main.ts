// SPDX-License-Identifier: Apache-2.0
// Child-process entry of `spawnRelay()`: runs one UdpRelay outside the test process, so that bulk transfers
// through it do not compete with the engine under test for the test process's event loop.
// Protocol: argv[2] = JSON UdpRelayOptions; prints one JSON line {a, b} when bound; each stdin line
// "counters" prints the counters as one JSON line; stdin EOF or SIGTERM closes the relay and exits.

import { createInterface } from 'node:readline';
import { UdpRelay, type UdpRelayOptions } from './udp-relay.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as UdpRelayOptions;
const relay = await UdpRelay.start(opts);
process.stdout.write(`${JSON.stringify({ a: relay.a, b: relay.b })}\n`);
const stop = async () => {
  await relay.close();
  process.stdout.write(`${JSON.stringify(relay.counters)}\n`);
  process.exit(0);
};
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'counters') process.stdout.write(`${JSON.stringify(relay.counters)}\n`);
});
lines.on('close', () => void stop());
process.once('SIGTERM', () => void stop());
