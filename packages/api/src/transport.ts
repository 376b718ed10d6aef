// SPDX-License-Identifier: Apache-2.0
// The undici dispatcher shared by the API client and the OAuth2 client: custom CA file or no verification;
// and how to tell, from a failed request, that the server's certificate was not trusted.
import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher } from 'undici';

export interface TlsOptions {
  /** PEM file of the CA that signed the server's certificate (i.e. the server's self-signed cert). */
  caFile?: string;
  /** Accept any certificate (the scenario's `--insecure-skip-tls-verify`). */
  insecureSkipTlsVerify?: boolean;
  /** Use this dispatcher instead (tests, proxies). */
  dispatcher?: Dispatcher;
}

export function makeDispatcher(opts: TlsOptions): Dispatcher | undefined {
  if (opts.dispatcher) return opts.dispatcher;
  if (!opts.caFile && !opts.insecureSkipTlsVerify) return undefined;
  const ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
  return new Agent({
    connect: { ...(ca ? { ca } : {}), rejectUnauthorized: !opts.insecureSkipTlsVerify },
  });
}

/** OpenSSL verification failures that mean "the CA is not known" (or the certificate is expired or misnamed). */
const UNTRUSTED_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** How deep untrustedCertificateCode follows `cause` (ApiError -> undici error -> TLS socket error). */
const MAX_CAUSE_DEPTH = 8;

/**
 * The verification code, found along `err`'s `cause` chain, when a request failed because the server's
 * certificate is not trusted (i.e. `DEPTH_ZERO_SELF_SIGNED_CERT`: pass `caFile`); undefined otherwise.
 */
export function untrustedCertificateCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < MAX_CAUSE_DEPTH; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNTRUSTED_CERT_CODES.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
