// SPDX-License-Identifier: Apache-2.0
// An API or sign-in error in words (never raw JSON).
import { describeError } from '../api/errors.js';

export function ErrorNote(props: { error: unknown; id?: string }) {
  if (!props.error) return null;
  return (
    <p className="error" role="alert" id={props.id}>
      {describeError(props.error).message}
    </p>
  );
}

/** The server's field-level message for `field`, if the error names that field. */
export function fieldError(error: unknown, field: string): string | undefined {
  if (!error) return undefined;
  const e = describeError(error);
  return e.field === field || e.field?.endsWith(`.${field}`) ? e.message : undefined;
}
