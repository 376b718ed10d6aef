// SPDX-License-Identifier: Apache-2.0
// Turns API client failures into nexd's typed errors with a message that says what to do: an untrusted
// certificate names --ca-file, a refused connection names the URL, a wrong password says so.
import { ApiError, untrustedCertificateCode } from '@nexodus/api';
import { NexdError } from '../errors.js';

/** The innermost `code` found along an error's cause chain, i.e. `ECONNREFUSED`. */
function causeCodes(err: unknown): string[] {
  const codes: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return codes;
}

/** What failed, in words, for the codes a connection attempt ends with (never OpenSSL's own text). */
const FAILURE_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused: nothing listens on that port',
  ECONNRESET: 'the connection was reset',
  ENOTFOUND: 'name not found in DNS',
  EAI_AGAIN: 'name lookup failed for now (DNS not answering)',
  ETIMEDOUT: 'no answer before the timeout',
  UND_ERR_CONNECT_TIMEOUT: 'no answer before the timeout',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPROTO: 'TLS handshake failed: is it an HTTPS port, and the URL https?',
  EPIPE: 'the connection was closed while sending',
  UND_ERR_SOCKET: 'the connection was closed before an answer',
};

function failureWords(code: string): string {
  if (FAILURE_WORDS[code]) return FAILURE_WORDS[code];
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'TLS handshake failed';
  return 'the connection failed';
}

/** Maps a failure of `what` (i.e. `login`) against `url` to a NexdError. */
export function serviceError(what: string, url: string, err: unknown): NexdError {
  if (err instanceof NexdError) return err;
  const tls = untrustedCertificateCode(err);
  if (tls) {
    return new NexdError(
      'NEX_ERR_TLS',
      `${what}: the certificate of ${url} is not trusted (${tls}); pass the CA that signed it with ` +
        '--ca-file FILE (NEXD_CA_FILE), or --insecure-skip-tls-verify for a test service',
      { cause: err },
    );
  }
  if (err instanceof ApiError && err.status === 0) {
    const codes = causeCodes(err);
    const code =
      codes.find((c) => c in FAILURE_WORDS) ??
      codes.find((c) => c.startsWith('E') && !c.startsWith('ERR_')) ??
      codes.find((c) => c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_')) ??
      codes[codes.length - 1] ??
      'error';
    return new NexdError(
      'NEX_ERR_SERVICE_UNREACHABLE',
      `${what}: cannot reach the service at ${url} (${code}: ${failureWords(code)}); ` +
        'check the URL and that the service is running',
      { cause: err },
    );
  }
  if (err instanceof ApiError && (err.status === 400 || err.status === 401 || err.status === 403)) {
    return new NexdError('NEX_ERR_LOGIN', `${what} refused by ${url}: ${err.message} (${err.code})`, {
      cause: err,
    });
  }
  if (err instanceof ApiError) {
    return new NexdError(
      'NEX_ERR_REGISTRATION',
      `${what} failed at ${url}: HTTP ${err.status} ${err.message} (${err.code})`,
      { cause: err },
    );
  }
  return new NexdError('NEX_ERR_SERVICE_UNREACHABLE', `${what} against ${url} failed: ${String(err)}`, {
    cause: err,
  });
}
