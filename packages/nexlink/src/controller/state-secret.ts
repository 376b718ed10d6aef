// SPDX-License-Identifier: Apache-2.0
// What nexlink reads from a proxy's state Secret (written by nexd, key `state.json`): the device id, so it
// can write that device's metadata and recognise its own exports in the VPC. Untrusted shape: undefined
// unless it parses.
import type { V1Secret } from '@kubernetes/client-node';

export const STATE_KEY = 'state.json';

export function deviceIdOf(secret: V1Secret | undefined): string | undefined {
  const b64 = secret?.data?.[STATE_KEY];
  if (!b64) return undefined;
  try {
    const state: unknown = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
    const id = (state as { deviceId?: unknown }).deviceId;
    return typeof id === 'string' && id ? id : undefined;
  } catch {
    return undefined;
  }
}
