// SPDX-License-Identifier: Apache-2.0
// `--output json|table`: JSON is the machine-readable form (stable field names from the control protocol);
// a table is for people: one header row in capitals, columns padded to their widest cell.

// `flags` (proxy list only) prints rules as `--ingress RULE` lines to paste back into nexd or nexctl.
export const OUTPUT_FORMATS = ['table', 'json', 'flags'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | undefined;
}

export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => String(c.value(r) ?? '-')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[line(columns.map((c) => c.header)), ...cells.map(line)].join('\n')}\n`;
}

/** Key/value pairs as a two-column table without header, i.e. for `nexctl nexd status`. */
export function formatPairs(pairs: readonly [string, string | number | boolean | undefined][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v === undefined ? '-' : String(v)}`).join('\n')}\n`;
}

export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
