// SPDX-License-Identifier: Apache-2.0
// `--output`, as the original nexctl (and kubectl) users expect:
//   table | column  one header row in capitals, columns padded to their widest cell (`column` is the
//                   original's name for it);
//   no-header       the same without the header row (for scripts: `awk`, `cut`);
//   json            indented JSON; json-raw: one line of JSON; yaml: YAML.
// Commands ask `globals().output`, which is the mode (`table` or `json`): the structured formats all take the
// `json` branch, and formatJson/formatTable then write the chosen format (set by run.ts for each command).
import { stringify as toYaml } from 'yaml';

// `flags` (proxy list only) prints rules as `--ingress RULE` lines to paste back into nexd or nexctl.
export const OUTPUT_FORMATS = ['table', 'column', 'no-header', 'json', 'json-raw', 'yaml', 'flags'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/** What a command branches on: a table for people, or structured data. */
export type OutputMode = 'table' | 'json';

let current: OutputFormat = 'table';

/** Sets the format formatJson/formatTable write; returns the mode commands branch on. */
export function useOutputFormat(format: OutputFormat): OutputMode {
  current = format;
  return format === 'json' || format === 'json-raw' || format === 'yaml' ? 'json' : 'table';
}

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | undefined;
}

export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const header = current !== 'no-header';
  const cells = rows.map((r) => columns.map((c) => String(c.value(r) ?? '-')));
  const widths = columns.map((c, i) =>
    Math.max(header ? c.header.length : 0, ...cells.map((row) => row[i]!.length)),
  );
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const lines = [...(header ? [line(columns.map((c) => c.header))] : []), ...cells.map(line)];
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Key/value pairs as a two-column table without header, i.e. for `nexctl nexd status`. */
export function formatPairs(pairs: readonly [string, string | number | boolean | undefined][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v === undefined ? '-' : String(v)}`).join('\n')}\n`;
}

/** Structured output in the chosen format (json unless json-raw or yaml was asked for). */
export function formatJson(value: unknown): string {
  if (current === 'json-raw') return `${JSON.stringify(value)}\n`;
  if (current === 'yaml') return toYaml(value);
  return `${JSON.stringify(value, null, 2)}\n`;
}
