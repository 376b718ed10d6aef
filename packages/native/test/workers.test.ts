// SPDX-License-Identifier: Apache-2.0
// The addon in Worker threads: each thread has its own AEAD state (concurrent seals stay correct), and
// a Worker that ends with a watcher still open is cleaned up instead of aborting the process.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';

const ADDON = new URL('../build/Release/nexodus_native.node', import.meta.url).pathname;

function run(code: string): Promise<{ code: number; message: unknown }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { addon: ADDON } });
    let message: unknown;
    w.on('message', (m) => {
      message = m;
    });
    w.on('error', reject);
    w.on('exit', (code) => resolve({ code, message }));
  });
}

describe('the addon in Worker threads', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  test('four Workers seal and open concurrently, every packet opens (per-thread AEAD state)', async () => {
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const { randomBytes } = require('node:crypto');
      const b = require(workerData.addon);
      const key = randomBytes(32), nonce = randomBytes(12), tag = new Uint8Array(16);
      let bad = 0;
      for (let i = 0; i < 20000; i++) {
        const plain = new Uint8Array(1424).fill(i & 0xff);
        const buf = plain.slice();
        nonce[0] = i & 0xff;
        b.sealInPlace(key, nonce, buf, tag);
        if (!b.openInPlace(key, nonce, buf, tag) || buf[1000] !== (i & 0xff)) bad++;
      }
      parentPort.postMessage(bad);`;
    const results = await Promise.all([run(code), run(code), run(code), run(code)]);
    assert.deepEqual(
      results.map((r) => [r.code, r.message]),
      [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, 0],
      ],
    );
  });

  test('a Worker that exits with a live watcher exits cleanly (the watcher closes with its environment)', async () => {
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const dgram = require('node:dgram');
      const b = require(workerData.addon);
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const state = Object.getOwnPropertySymbols(s).map((k) => s[k]).find((v) => v && v.handle && v.handle.recvStop);
        state.handle.recvStop();
        const w = b.watch(state.handle.fd, () => {});
        b.setEvents(w, 1);
        parentPort.postMessage('watching');
        process.exit(0);
      });`;
    const r = await run(code);
    assert.deepEqual([r.code, r.message], [0, 'watching']);
  });
});
