// SPDX-License-Identifier: Apache-2.0
// The UI's one API client: fetch on the same origin with the in-memory bearer token, typed by the
// schemas of @nexodus/api. Leaf components never call it directly; they use the hooks in hooks.ts.

import { ApiError } from '@nexodus/api/errors';
import type {
  AddRegKey,
  AddSecurityGroup,
  AddVpc,
  Device,
  DeviceMetadata,
  Organization,
  RegKey,
  SecurityGroup,
  UpdateDevice,
  UpdateSecurityGroup,
  User,
  Vpc,
  Watch,
  WatchEvent,
} from '@nexodus/api/schemas';
import { parseWatchStream } from '@nexodus/api/watch';
import { errorFromBody } from './errors.js';

/** The original Nexodus's invitation (models.Invitation), as GET /api/invitations lists it. */
export interface Invitation {
  id: string;
  organization_id: string;
  user_id?: string;
  email?: string;
  roles?: string[];
  expires_at?: string;
  from?: { id: string; username: string };
  organization?: { id: string; name: string };
}

/** models.UserOrganization: one member of an organization. */
export interface OrgMember {
  user_id: string;
  organization_id: string;
  roles?: string[];
  user?: { id: string; username: string };
}

export interface AdminUser {
  id: string;
  username: string;
  admin: boolean;
  created_at: string;
}

export type TokenGetter = () => Promise<string | undefined>;

const enc = encodeURIComponent;

export class UiApi {
  constructor(
    private readonly token: TokenGetter,
    private readonly base = '',
    /** Called on a 401 (i.e. the refresh token was revoked elsewhere): the app signs in again. */
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  private async headers(json: boolean): Promise<Record<string, string>> {
    const t = await this.token();
    return {
      accept: 'application/json',
      ...(json ? { 'content-type': 'application/json' } : {}),
      ...(t ? { authorization: `Bearer ${t}` } : {}),
    };
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: await this.headers(body !== undefined),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', (err as Error).message, { cause: err });
    }
    const text = await res.text();
    if (res.status === 401) this.onUnauthorized();
    if (!res.ok) throw errorFromBody(res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  me = () => this.call<User>('GET', '/api/users/me');
  organizations = () => this.call<Organization[]>('GET', '/api/organizations');
  orgMembers = (id: string) => this.call<OrgMember[]>('GET', `/api/organizations/${enc(id)}/users`);
  vpcs = () => this.call<Vpc[]>('GET', '/api/vpcs');
  createVpc = (b: AddVpc) => this.call<Vpc>('POST', '/api/vpcs', b);
  deleteVpc = (id: string) => this.call<unknown>('DELETE', `/api/vpcs/${enc(id)}`);
  devices = () => this.call<Device[]>('GET', '/api/devices');
  device = (id: string) => this.call<Device>('GET', `/api/devices/${enc(id)}`);
  updateDevice = (id: string, b: UpdateDevice) => this.call<Device>('PATCH', `/api/devices/${enc(id)}`, b);
  deleteDevice = (id: string) => this.call<unknown>('DELETE', `/api/devices/${enc(id)}`);
  deviceMetadata = (id: string) => this.call<DeviceMetadata[]>('GET', `/api/devices/${enc(id)}/metadata`);
  vpcMetadata = (vpcId: string) => this.call<DeviceMetadata[]>('GET', `/api/vpcs/${enc(vpcId)}/metadata`);
  regKeys = () => this.call<RegKey[]>('GET', '/api/reg-keys');
  createRegKey = (b: AddRegKey) => this.call<RegKey>('POST', '/api/reg-keys', b);
  deleteRegKey = (id: string) => this.call<unknown>('DELETE', `/api/reg-keys/${enc(id)}`);
  securityGroups = () => this.call<SecurityGroup[]>('GET', '/api/security-groups');
  createSecurityGroup = (b: AddSecurityGroup) => this.call<SecurityGroup>('POST', '/api/security-groups', b);
  updateSecurityGroup = (id: string, b: UpdateSecurityGroup) =>
    this.call<SecurityGroup>('PATCH', `/api/security-groups/${enc(id)}`, b);
  deleteSecurityGroup = (id: string) => this.call<unknown>('DELETE', `/api/security-groups/${enc(id)}`);
  invitations = () => this.call<Invitation[]>('GET', '/api/invitations');
  invite = (b: { organization_id: string; user_id?: string; email?: string }) =>
    this.call<Invitation>('POST', '/api/invitations', b);
  acceptInvitation = (id: string) => this.call<unknown>('POST', `/api/invitations/${enc(id)}/accept`);
  declineInvitation = (id: string) => this.call<unknown>('DELETE', `/api/invitations/${enc(id)}`);
  adminUsers = () => this.call<AdminUser[]>('GET', '/api/admin/users');

  /**
   * The VPC's watch stream (`POST /api/vpcs/{id}/events`): current objects as `change`, then `tail`,
   * then live events. Ends when `signal` aborts.
   */
  async *watch(vpcId: string, watches: Watch[], signal: AbortSignal): AsyncGenerator<WatchEvent> {
    const res = await fetch(`${this.base}/api/vpcs/${enc(vpcId)}/events`, {
      method: 'POST',
      headers: { ...(await this.headers(true)), accept: 'application/json;stream=watch' },
      body: JSON.stringify(watches),
      signal,
    });
    if (!res.ok) throw errorFromBody(res.status, await res.text());
    if (!res.body) return;
    const reader = res.body.getReader();
    const chunks: AsyncIterable<Uint8Array> = {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      },
    };
    yield* parseWatchStream(chunks);
  }
}
