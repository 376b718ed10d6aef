// SPDX-License-Identifier: Apache-2.0
// Parses an `application/json;stream=watch` body: one JSON object per line.
import type { WatchEvent } from './schemas.js';

/** Longest line accepted (a device with many endpoints is a few KiB; 64 KiB metadata values plus framing). */
export const MAX_WATCH_LINE = 1024 * 1024;

/** Splits a byte stream into watch events. Throws on a malformed line or a line over MAX_WATCH_LINE. */
export async function* parseWatchStream(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<WatchEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line !== '') yield parseLine(line);
      nl = buf.indexOf('\n');
    }
    if (buf.length > MAX_WATCH_LINE) throw new Error(`watch stream line exceeds ${MAX_WATCH_LINE} bytes`);
  }
  const rest = (buf + decoder.decode()).trim();
  if (rest !== '') yield parseLine(rest);
}

function parseLine(line: string): WatchEvent {
  const v = JSON.parse(line) as { type?: unknown; kind?: unknown };
  if (typeof v !== 'object' || v === null || typeof v.type !== 'string' || typeof v.kind !== 'string') {
    throw new Error(`malformed watch event: ${line.slice(0, 200)}`);
  }
  return v as WatchEvent;
}
