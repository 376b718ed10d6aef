// SPDX-License-Identifier: Apache-2.0
// Who a request acts for. Authentication (auth.ts) tries a user access token (identity), then a device
// bearer token, then a registration key token.

/** A logged-in user (from identity's verifyAccessToken). Same shape as identity's UserPrincipal. */
export type UserPrincipal = { kind: 'user'; userId: string; username: string; admin: boolean };
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
