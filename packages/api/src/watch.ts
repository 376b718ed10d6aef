// SPDX-License-Identifier: Apache-2.0
// Parses an `application/json;stream=watch` body: one JSON object per line.
import { ApiError } from './errors.js';
import type { WatchEvent } from './schemas.js';

/** Longest line accepted (a device with many endpoints is a few KiB; 64 KiB metadata values plus framing). */
export const MAX_WATCH_LINE = 1024 * 1024;
/**
 * The code of the `error` event that ends a stream resumed from a revision whose tombstones were purged:
 * the client must list again from scratch (it would otherwise miss deletes).
 */
export const WATCH_EXPIRED_CODE = 'NEX_ERR_WATCH_EXPIRED';

/**
 * Splits a byte stream into watch events. Throws ApiError `NEX_CLIENT_ERR_BAD_RESPONSE` on an event without
 * string `type`/`kind` or a line over MAX_WATCH_LINE, and the SyntaxError of JSON.parse on a line that is not
 * JSON.
 */
export async function* parseWatchStream(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<WatchEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    // Scan with an offset and cut the consumed part once per chunk: an initial list arrives as one large
    // chunk of thousands of lines, and re-slicing the remainder after every line is quadratic in the worst case.
    let start = 0;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(start, nl).trim();
      start = nl + 1;
      if (line !== '') yield parseLine(line);
      nl = buf.indexOf('\n', start);
    }
    if (start > 0) buf = buf.slice(start);
    if (buf.length > MAX_WATCH_LINE) {
      throw new ApiError(
        200,
        'NEX_CLIENT_ERR_BAD_RESPONSE',
        `watch stream line exceeds ${MAX_WATCH_LINE} bytes; is the URL a Nexodus service?`,
      );
    }
  }
  const rest = (buf + decoder.decode()).trim();
  if (rest !== '') yield parseLine(rest);
}

function parseLine(line: string): WatchEvent {
  const v = JSON.parse(line) as { type?: unknown; kind?: unknown };
  if (typeof v !== 'object' || v === null || typeof v.type !== 'string' || typeof v.kind !== 'string') {
    throw new ApiError(
      200,
      'NEX_CLIENT_ERR_BAD_RESPONSE',
      `malformed watch event (expected an object with string "type" and "kind"): ${line.slice(0, 200)}`,
    );
  }
  return v as WatchEvent;
}
