// SPDX-License-Identifier: Apache-2.0
// Who a request acts for. Authentication (auth.ts) tries a user access token (identity), then a device
// bearer token, then a registration key token.

import type { UserPrincipal } from './identity/index.js';

/** A logged-in user (from identity's verifyAccessToken). */
export type { UserPrincipal };
/** A device's bearer token: acts only on its own device and reads its own VPC. */
export type DevicePrincipal = { kind: 'device'; deviceId: string; vpcId: string; ownerId: string };
/** A registration key: may register one (single-use) or many devices into its VPC. */
export type RegKeyPrincipal = {
  kind: 'reg-key';
  regKeyId: string;
  vpcId: string;
  ownerId: string;
  singleUse: boolean;
  /** the device a single-use key was used for, if any */
  deviceId: string | undefined;
  securityGroupId: string | undefined;
};
export type Principal = UserPrincipal | DevicePrincipal | RegKeyPrincipal;

/** The user id whose objects the principal acts on. */
export function ownerOf(p: Principal): string {
  return p.kind === 'user' ? p.userId : p.ownerId;
}
