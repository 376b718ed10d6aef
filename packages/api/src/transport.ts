// SPDX-License-Identifier: Apache-2.0
// The undici dispatcher shared by the API client and the OAuth2 client: custom CA file or no verification.
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
