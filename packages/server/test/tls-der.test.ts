// SPDX-License-Identifier: Apache-2.0
// The self-signed certificate's DER INTEGER: every serial encodes in its one valid form, so OpenSSL parses
// the certificate whatever random bytes the serial drew (a serial starting with 0x00 once failed CI).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSelfSignedCertificate, positiveInteger } from '../src/tls.js';

const hex = (b: Buffer) => b.toString('hex');

describe('positiveInteger: minimal DER', () => {
  it('drops leading zeros, and puts one back before a set top bit', () => {
    assert.equal(hex(positiveInteger(Buffer.from([0x00, 0x01, 0x02]))), '02020102');
    assert.equal(hex(positiveInteger(Buffer.from([0x00, 0x00, 0x80]))), '02020080');
    assert.equal(hex(positiveInteger(Buffer.from([0x80, 0x01]))), '0203008001');
    assert.equal(hex(positiveInteger(Buffer.from([0x7f]))), '02017f');
    assert.equal(hex(positiveInteger(Buffer.from([0x00, 0x00]))), '020100', 'zero is one 0 byte');
  });

  it('200 certificates in a row all parse (each draws a fresh random serial)', () => {
    for (let i = 0; i < 200; i++) {
      const { certPem } = createSelfSignedCertificate(['localhost', '127.0.0.1']);
      assert.match(certPem, /^-----BEGIN CERTIFICATE-----/);
    }
  });
});
