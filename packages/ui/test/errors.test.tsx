// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { describeError, errorFromBody } from '../src/api/errors.js';

describe('API errors in words', () => {
  it('reads our shape with the field it names', () => {
    const e = describeError(
      errorFromBody(
        400,
        JSON.stringify({
          error: 'vpc_id: must match format "uuid"',
          code: 'NEX_ERR_VALIDATION',
          field: 'vpc_id',
        }),
      ),
    );
    expect(e).toEqual({ message: 'Vpc_id: must match format "uuid".', field: 'vpc_id' });
  });

  it("reads the original Nexodus's not-found shape", () => {
    expect(
      describeError(errorFromBody(404, JSON.stringify({ error: 'not found', resource: 'device' }))).message,
    ).toBe('That device does not exist (any more), or is not yours.');
  });

  it('reads RFC 6749 bodies, network failures and non-JSON bodies without showing raw JSON', () => {
    expect(
      describeError(
        errorFromBody(400, JSON.stringify({ error: 'invalid_grant', error_description: 'the code expired' })),
      ).message,
    ).toBe('The code expired.');
    expect(describeError(errorFromBody(502, '<html>bad gateway</html>')).message).toBe(
      '<html>bad gateway</html>.',
    );
    expect(describeError(errorFromBody(500, '{"weird":1}')).message).not.toContain('{');
    expect(describeError(errorFromBody(401, '{}')).message).toMatch(/sign in again/);
  });
});
