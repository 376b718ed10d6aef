// SPDX-License-Identifier: Apache-2.0
// WireGuard engine benchmark (pure core, one core, no sockets):
//  - handshakes/s: initiation + response + consume + first keepalive between two in-memory devices;
//  - transport seal+open Gbit/s for 1420-byte IP packets through the engine's real sendPacket ->
//    sendDatagram -> receiveDatagram -> deliverPacket path;
//  - raw ChaCha20-Poly1305 encrypt+decrypt in place on the same data, with the AEAD the engine uses
//    (OpenSSL through @nexodus/native where built, else sodium-native), and sodium-native for comparison.
// The last line is `ratio=<engine/raw>`, raw being the engine's own AEAD: what the engine adds to it.
// Run: npm run bench:wireguard
import { performance } from 'node:perf_hooks';
import { type Endpoint, transportAead, transportAeads, WireGuardDevice } from '@nexodus/wireguard';
import { ipv4Packet, seededRandom } from '@nexodus/wireguard/testing';

const PACKET_SIZE = 1420;
const RUN_MS = Number(process.env.WG_BENCH_MS ?? 3000);
const SLICE = 512;
let now = 1_700_000_000_000;

/** Two devices whose outputs call each other directly (synchronously), so no copies or queues are measured. */
function wiredPair() {
  const epA: Endpoint = { address: '192.0.2.1', port: 51820 };
  const epB: Endpoint = { address: '192.0.2.2', port: 51820 };
  let delivered = 0;
  let a!: WireGuardDevice;
  let b!: WireGuardDevice;
  const rnd = seededRandom(7);
  const privA = new Uint8Array(32);
  const privB = new Uint8Array(32);
  rnd(privA);
  rnd(privB);
  a = new WireGuardDevice({
    privateKey: privA,
    random: seededRandom(1),
    output: { sendDatagram: (d) => b.receiveDatagram(d, epA, now), deliverPacket: () => void delivered++ },
  });
  b = new WireGuardDevice({
    privateKey: privB,
    random: seededRandom(2),
    output: { sendDatagram: (d) => a.receiveDatagram(d, epB, now), deliverPacket: () => void delivered++ },
  });
  a.addPeer({ publicKey: b.publicKey, endpoint: epB, allowedIps: ['10.0.0.2/32'] });
  b.addPeer({ publicKey: a.publicKey, endpoint: epA, allowedIps: ['10.0.0.1/32'] });
  return { a, b, delivered: () => delivered };
}

function benchHandshakes(): number {
  const { a, b } = wiredPair();
  const key = b.publicKey;
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < RUN_MS) {
    // Past REJECT_AFTER_TIME the session is unusable, so connect() must run a whole new handshake.
    now += 181_000;
    a.connect(key, now); // initiation -> response -> consume -> keepalive, synchronously
    if (a.status()[0].latestHandshake !== now) throw new Error('handshake did not complete');
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

/** Engine path: A.sendPacket seals into its buffer, the wired output hands it to B, which opens in place. */
function engineRunner(packet: Uint8Array) {
  const pair = wiredPair();
  pair.a.sendPacket(packet, now); // handshake + first packet
  if (pair.delivered() !== 1) throw new Error('engine path is not delivering');
  let sent = 1;
  return {
    run(count: number): void {
      for (let i = 0; i < count; i++) pair.a.sendPacket(packet, now);
      sent += count;
    },
    check(): void {
      if (pair.delivered() !== sent) throw new Error(`engine lost packets: ${sent - pair.delivered()}`);
    },
  };
}

type Aead = (typeof transportAeads)['sodium'];
const engineAead: Aead = transportAeads[transportAead] ?? transportAeads.sodium;

/** The same AEAD work without the engine: seal then open the same 1420 bytes in place. */
function rawRunner(packet: Uint8Array, aead: Aead) {
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(12);
  const buf = new Uint8Array(packet);
  const tag = new Uint8Array(16);
  let counter = 0;
  let failed = 0;
  return {
    run(count: number): void {
      for (let i = 0; i < count; i++) {
        counter++;
        nonce[4] = counter & 0xff;
        nonce[5] = (counter >>> 8) & 0xff;
        nonce[6] = (counter >>> 16) & 0xff;
        aead.seal(key, nonce, buf, tag);
        if (!aead.open(key, nonce, buf, tag)) failed++;
      }
    },
    check(): void {
      if (failed > 0) throw new Error(`raw round trip: ${failed} packets failed to open`);
      if (buf[30] !== packet[30]) throw new Error('raw round trip corrupted data');
    },
  };
}

/**
 * Runs engine and raw in alternating slices of SLICE packets for RUN_MS each, so that load from other
 * processes on this shared machine hits both alike; returns Gbit/s of plaintext for each.
 */
function benchTransport(packet: Uint8Array): { engine: number; raw: number; sodium: number } {
  const engine = engineRunner(packet);
  const raw = rawRunner(packet, engineAead);
  const sod = rawRunner(packet, transportAeads.sodium);
  engine.run(2000); // warm up (JIT) before timing
  raw.run(2000);
  sod.run(2000);
  let tEngine = 0;
  let tRaw = 0;
  let tSodium = 0;
  let slices = 0;
  while (tEngine < RUN_MS || tRaw < RUN_MS) {
    let t = performance.now();
    engine.run(SLICE);
    tEngine += performance.now() - t;
    t = performance.now();
    raw.run(SLICE);
    tRaw += performance.now() - t;
    t = performance.now();
    sod.run(SLICE);
    tSodium += performance.now() - t;
    slices++;
  }
  engine.check();
  raw.check();
  sod.check();
  const bits = slices * SLICE * packet.length * 8;
  const gbit = (ms: number) => bits / (ms / 1000) / 1e9;
  return { engine: gbit(tEngine), raw: gbit(tRaw), sodium: gbit(tSodium) };
}

const packet = ipv4Packet('10.0.0.1', '10.0.0.2', PACKET_SIZE, 0x61);
const hs = benchHandshakes();
const { engine, raw, sodium: sodiumGbit } = benchTransport(packet);
console.log(`handshakes/s=${hs.toFixed(0)} (initiation+response+consume+keepalive, one core)`);
console.log(
  `engine seal+open ${PACKET_SIZE}B (transport AEAD: ${transportAead}): ${engine.toFixed(2)} Gbit/s`,
);
console.log(
  `raw ${transportAead} chacha20poly1305 encrypt+decrypt ${PACKET_SIZE}B: ${raw.toFixed(2)} Gbit/s`,
);
console.log(`raw sodium-native, for comparison: ${sodiumGbit.toFixed(2)} Gbit/s`);
console.log(`ratio=${(engine / raw).toFixed(2)}`);
