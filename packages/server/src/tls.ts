// SPDX-License-Identifier: Apache-2.0
// A self-signed certificate for the first start, made with node:crypto alone (no openssl binary): an EC P-256
// key and an X.509 v3 certificate (RFC 5280) encoded in DER by hand, signed ECDSA-with-SHA256.
import {
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';

// ASN.1 universal tags (X.690).
const TAG_BOOLEAN = 0x01;
const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_OID = 0x06;
const TAG_UTF8_STRING = 0x0c;
const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;
const TAG_SEQUENCE = 0x30;
const TAG_SET = 0x31;
// Context-specific tags used by X.509.
const TAG_EXPLICIT_0 = 0xa0; // TBSCertificate.version
const TAG_EXPLICIT_3 = 0xa3; // TBSCertificate.extensions
const TAG_SAN_DNS = 0x82; // GeneralName dNSName [2] IMPLICIT IA5String
const TAG_SAN_IP = 0x87; // GeneralName iPAddress [7] IMPLICIT OCTET STRING

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
/** keyUsage bits: digitalSignature (bit 0) and keyCertSign (bit 5), as a BIT STRING with 2 unused bits. */
const KEY_USAGE_BITS = Buffer.from([0x02, 0x84]);

const CERT_VALIDITY_DAYS = 825;
const SERIAL_BYTES = 16;

function der(tag: number, content: Buffer): Buffer {
  const len = content.length;
  let header: Buffer;
  if (len < 0x80) header = Buffer.from([tag, len]);
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, content]);
}

const seq = (...parts: Buffer[]) => der(TAG_SEQUENCE, Buffer.concat(parts));

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const b: number[] = [arc & 0x7f];
    for (let n = arc >> 7; n > 0; n >>= 7) b.unshift((n & 0x7f) | 0x80);
    out.push(...b);
  }
  return der(TAG_OID, Buffer.from(out));
}

/**
 * A DER INTEGER of the unsigned big-endian `bytes`, in its one valid form (X.690 8.3.2): leading zero bytes
 * dropped, then one 0 put back when the top bit is set, so the value stays positive. OpenSSL refuses any
 * other form ("illegal padding"), which a random serial starting with 0x00 used to produce, 1 time in 512.
 */
export function positiveInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const minimal = bytes.subarray(start);
  return der(TAG_INTEGER, minimal[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}

function time(d: Date): Buffer {
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return d.getUTCFullYear() < 2050
    ? der(TAG_UTC_TIME, Buffer.from(`${iso.slice(2)}Z`))
    : der(TAG_GENERALIZED_TIME, Buffer.from(`${iso}Z`));
}

function ipBytes(ip: string): Buffer {
  return Buffer.from(ipaddr.parse(ip).toByteArray());
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(
    oid(id),
    ...(critical ? [der(TAG_BOOLEAN, Buffer.from([0xff]))] : []),
    der(TAG_OCTET_STRING, value),
  );
}

export interface SelfSigned {
  certPem: string;
  keyPem: string;
}

/** Creates a self-signed certificate for `names` (DNS names and IP addresses), valid from now. */
export function createSelfSignedCertificate(names: string[], now = new Date()): SelfSigned {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cn = der(TAG_SET, seq(oid(OID_COMMON_NAME), der(TAG_UTF8_STRING, Buffer.from('nexodus-server'))));
  const name = seq(cn);
  const serial = randomBytes(SERIAL_BYTES);
  serial[0]! &= 0x7f;
  const notAfter = new Date(now.getTime() + CERT_VALIDITY_DAYS * 86_400_000);
  const san = seq(
    ...names.map((n) => (isIP(n) ? der(TAG_SAN_IP, ipBytes(n)) : der(TAG_SAN_DNS, Buffer.from(n)))),
  );
  const algorithm = seq(oid(OID_ECDSA_SHA256));
  const tbs = seq(
    der(TAG_EXPLICIT_0, der(TAG_INTEGER, Buffer.from([2]))), // v3
    positiveInteger(serial),
    algorithm,
    name,
    seq(time(new Date(now.getTime() - 60_000)), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(
      TAG_EXPLICIT_3,
      seq(
        extension(OID_SUBJECT_ALT_NAME, false, san),
        // CA:TRUE so that clients can use this file as their CA (`--ca-file`); it signs only itself.
        extension(OID_BASIC_CONSTRAINTS, true, seq(der(TAG_BOOLEAN, Buffer.from([0xff])))),
        extension(OID_KEY_USAGE, true, der(TAG_BIT_STRING, KEY_USAGE_BITS)),
        extension(OID_EXT_KEY_USAGE, false, seq(oid(OID_SERVER_AUTH))),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  const cert = seq(tbs, algorithm, der(TAG_BIT_STRING, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = cert.toString('base64').replace(/(.{64})/g, '$1\n');
  const certPem = `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Parse it back: a malformed encoding fails here, at generation, not in a client.
  const x = new X509Certificate(certPem);
  if (!x.verify(publicKey as KeyObject)) throw new Error('self-signed certificate does not verify');
  return { certPem, keyPem };
}

/**
 * Loads `tls.crt`/`tls.key` from the state directory, creating them on first start. Returns the PEMs and
 * the certificate path (what clients pass as their CA file).
 */
export function ensureSelfSigned(
  stateDir: string,
  names: string[],
): { cert: string; key: string; certPath: string; created: boolean } {
  const certPath = join(stateDir, 'tls.crt');
  const keyPath = join(stateDir, 'tls.key');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const cert = readFileSync(certPath, 'utf8');
    const key = readFileSync(keyPath, 'utf8');
    createPrivateKey(key); // fail early on a damaged key file
    return { cert, key, certPath, created: false };
  }
  mkdirSync(stateDir, { recursive: true });
  const { certPem, keyPem } = createSelfSignedCertificate(names);
  writeFileSync(keyPath, keyPem, { mode: 0o600 });
  writeFileSync(certPath, certPem, { mode: 0o644 });
  return { cert: certPem, key: keyPem, certPath, created: true };
}
