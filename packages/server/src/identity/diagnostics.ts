// SPDX-License-Identifier: Apache-2.0
// Security-relevant events, published on node:diagnostics_channel so that the server's logger (or a test,
// or an audit sink) subscribes without the identity code calling a logger itself.
import { channel } from 'node:diagnostics_channel';

/** Every password check (token endpoint and verification page). Never carries the password. */
export interface LoginEvent {
  username: string;
  /** source address of the request */
  address: string;
  outcome: 'success' | 'bad-credentials' | 'rate-limited';
}

/** A rotated refresh token was presented again: its family was revoked (a stolen token, or a buggy client). */
export interface RefreshReuseEvent {
  userId: string;
  familyId: string;
}

export const IDENTITY_CHANNELS = {
  login: 'nexodus:identity:login',
  refreshReuse: 'nexodus:identity:refresh-reuse',
} as const;

const loginChannel = channel(IDENTITY_CHANNELS.login);
const reuseChannel = channel(IDENTITY_CHANNELS.refreshReuse);

export function publishLogin(event: LoginEvent): void {
  if (loginChannel.hasSubscribers) loginChannel.publish(event);
}

export function publishRefreshReuse(event: RefreshReuseEvent): void {
  if (reuseChannel.hasSubscribers) reuseChannel.publish(event);
}
