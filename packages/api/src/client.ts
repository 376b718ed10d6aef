// SPDX-License-Identifier: Apache-2.0
// NexodusClient: a typed client of the REST API for nexd, nexctl and nexlink (undici underneath).
import { type Dispatcher, request } from 'undici';
import { ApiError } from './errors.js';
import type {
  AddDevice,
  AddInvitation,
  AddOrganization,
  AddRegKey,
  AddSecurityGroup,
  AddServiceNetwork,
  AddSite,
  AddVpc,
  Device,
  DeviceMetadata,
  FeatureFlags,
  Invitation,
  Organization,
  RegKey,
  SecurityGroup,
  ServiceNetwork,
  Site,
  UpdateDevice,
  UpdateRegKey,
  UpdateSecurityGroup,
  UpdateServiceNetwork,
  UpdateSite,
  UpdateVpc,
  User,
  UserOrganization,
  Vpc,
  Watch,
  WatchEvent,
} from './schemas.js';
import { WATCH_CONTENT_TYPE } from './schemas.js';
import { makeDispatcher, type TlsOptions } from './transport.js';
import { parseWatchStream } from './watch.js';

export interface NexodusClientOptions extends TlsOptions {
  /** i.e. https://localhost:8443 */
  baseUrl: string;
  /** A fixed bearer token (user access token, device token or registration key). */
  token?: string;
  /** Called before every request; return a fresh access token (i.e. `TokenSource.getToken`). */
  tokenProvider?: () => string | Promise<string>;
  /** Per-request timeout for non-streaming calls (default 30 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const enc = encodeURIComponent;

export class NexodusClient {
  readonly baseUrl: string;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly ownsDispatcher: boolean;
  private readonly token: string | undefined;
  private readonly tokenProvider: (() => string | Promise<string>) | undefined;
  private readonly timeoutMs: number;

  constructor(opts: NexodusClientOptions) {
    if (!/^https?:\/\//.test(opts.baseUrl)) {
      throw new TypeError(`baseUrl must start with https:// or http://, got ${JSON.stringify(opts.baseUrl)}`);
    }
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.dispatcher = makeDispatcher(opts);
    this.ownsDispatcher = this.dispatcher !== undefined && opts.dispatcher === undefined;
    this.token = opts.token;
    this.tokenProvider = opts.tokenProvider;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  private async authHeader(): Promise<Record<string, string>> {
    const t = this.tokenProvider ? await this.tokenProvider() : this.token;
    return t ? { authorization: `Bearer ${t}` } : {};
  }

  private async call<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.authHeader()) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.baseUrl + path, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', `${method} ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) throw ApiError.fromResponse(res.statusCode, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new ApiError(
        res.statusCode,
        'NEX_CLIENT_ERR_BAD_RESPONSE',
        `${method} ${path}: response is not JSON`,
        { cause: err },
      );
    }
  }

  // users
  getMe(): Promise<User> {
    return this.call('GET', '/api/users/me');
  }

  listUsers(): Promise<User[]> {
    return this.call('GET', '/api/users');
  }
  getUser(id: string): Promise<User> {
    return this.call('GET', `/api/users/${enc(id)}`);
  }
  getFeatureFlags(): Promise<FeatureFlags> {
    return this.call('GET', '/api/fflags');
  }

  // organizations
  listOrganizationUsers(orgId: string): Promise<UserOrganization[]> {
    return this.call('GET', `/api/organizations/${enc(orgId)}/users`);
  }
  listOrganizations(): Promise<Organization[]> {
    return this.call('GET', '/api/organizations');
  }
  createOrganization(body: AddOrganization): Promise<Organization> {
    return this.call('POST', '/api/organizations', body);
  }
  getOrganization(id: string): Promise<Organization> {
    return this.call('GET', `/api/organizations/${enc(id)}`);
  }
  deleteOrganization(id: string): Promise<Organization> {
    return this.call('DELETE', `/api/organizations/${enc(id)}`);
  }

  // VPCs
  listVpcs(): Promise<Vpc[]> {
    return this.call('GET', '/api/vpcs');
  }
  createVpc(body: AddVpc): Promise<Vpc> {
    return this.call('POST', '/api/vpcs', body);
  }
  getVpc(id: string): Promise<Vpc> {
    return this.call('GET', `/api/vpcs/${enc(id)}`);
  }
  updateVpc(id: string, body: UpdateVpc): Promise<Vpc> {
    return this.call('PATCH', `/api/vpcs/${enc(id)}`, body);
  }
  deleteVpc(id: string): Promise<Vpc> {
    return this.call('DELETE', `/api/vpcs/${enc(id)}`);
  }
  listDevicesInVpc(vpcId: string): Promise<Device[]> {
    return this.call('GET', `/api/vpcs/${enc(vpcId)}/devices`);
  }
  listMetadataInVpc(
    vpcId: string,
    filter: { key?: string[]; prefix?: string[] } = {},
  ): Promise<DeviceMetadata[]> {
    const q = new URLSearchParams();
    for (const k of filter.key ?? []) q.append('key', k);
    for (const p of filter.prefix ?? []) q.append('prefix', p);
    const qs = q.toString();
    return this.call('GET', `/api/vpcs/${enc(vpcId)}/metadata${qs ? `?${qs}` : ''}`);
  }
  listSecurityGroupsInVpc(vpcId: string): Promise<SecurityGroup[]> {
    return this.call('GET', `/api/vpcs/${enc(vpcId)}/security-groups`);
  }

  // devices
  listDevices(): Promise<Device[]> {
    return this.call('GET', '/api/devices');
  }
  /** 409 (ApiError.status) with `id` of the existing device when the public key is registered already. */
  createDevice(body: AddDevice): Promise<Device> {
    return this.call('POST', '/api/devices', body);
  }
  /**
   * Registers the device, or, when its public key is registered already (409), updates the existing one with
   * `body`'s endpoints/hostname/advertise_cidrs and returns it: what nexd does on every start.
   */
  async ensureDevice(body: AddDevice): Promise<Device> {
    try {
      return await this.createDevice(body);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409 || !err.id) throw err;
      const patch: UpdateDevice = {};
      if (body.hostname !== undefined) patch.hostname = body.hostname;
      if (body.endpoints !== undefined) patch.endpoints = body.endpoints;
      if (body.advertise_cidrs !== undefined) patch.advertise_cidrs = body.advertise_cidrs;
      if (body.relay !== undefined) patch.relay = body.relay;
      if (body.symmetric_nat !== undefined) patch.symmetric_nat = body.symmetric_nat;
      return this.updateDevice(err.id, patch);
    }
  }
  getDevice(id: string): Promise<Device> {
    return this.call('GET', `/api/devices/${enc(id)}`);
  }
  updateDevice(id: string, body: UpdateDevice): Promise<Device> {
    return this.call('PATCH', `/api/devices/${enc(id)}`, body);
  }
  deleteDevice(id: string): Promise<Device> {
    return this.call('DELETE', `/api/devices/${enc(id)}`);
  }

  // device metadata
  listDeviceMetadata(deviceId: string): Promise<DeviceMetadata[]> {
    return this.call('GET', `/api/devices/${enc(deviceId)}/metadata`);
  }
  getDeviceMetadata(deviceId: string, key: string): Promise<DeviceMetadata> {
    return this.call('GET', `/api/devices/${enc(deviceId)}/metadata/${enc(key)}`);
  }
  /** `value` is any JSON value. */
  setDeviceMetadata(deviceId: string, key: string, value: unknown): Promise<DeviceMetadata> {
    return this.call(
      'PUT',
      `/api/devices/${enc(deviceId)}/metadata/${enc(key)}`,
      value === undefined ? null : value,
    );
  }
  /** Deletes every key of the device (204). */
  clearDeviceMetadata(deviceId: string): Promise<void> {
    return this.call('DELETE', `/api/devices/${enc(deviceId)}/metadata`);
  }
  deleteDeviceMetadata(deviceId: string, key: string): Promise<DeviceMetadata> {
    return this.call('DELETE', `/api/devices/${enc(deviceId)}/metadata/${enc(key)}`);
  }

  // registration keys
  listRegKeys(): Promise<RegKey[]> {
    return this.call('GET', '/api/reg-keys');
  }
  createRegKey(body: AddRegKey): Promise<RegKey> {
    return this.call('POST', '/api/reg-keys', body);
  }
  /** `id` may be `me` when the client's token is a registration key. */
  getRegKey(id: string): Promise<RegKey> {
    return this.call('GET', `/api/reg-keys/${enc(id)}`);
  }
  updateRegKey(id: string, body: UpdateRegKey): Promise<RegKey> {
    return this.call('PATCH', `/api/reg-keys/${enc(id)}`, body);
  }
  deleteRegKey(id: string): Promise<RegKey> {
    return this.call('DELETE', `/api/reg-keys/${enc(id)}`);
  }

  // security groups
  listSecurityGroups(): Promise<SecurityGroup[]> {
    return this.call('GET', '/api/security-groups');
  }
  createSecurityGroup(body: AddSecurityGroup): Promise<SecurityGroup> {
    return this.call('POST', '/api/security-groups', body);
  }
  getSecurityGroup(id: string): Promise<SecurityGroup> {
    return this.call('GET', `/api/security-groups/${enc(id)}`);
  }
  updateSecurityGroup(id: string, body: UpdateSecurityGroup): Promise<SecurityGroup> {
    return this.call('PATCH', `/api/security-groups/${enc(id)}`, body);
  }
  deleteSecurityGroup(id: string): Promise<SecurityGroup> {
    return this.call('DELETE', `/api/security-groups/${enc(id)}`);
  }

  // invitations
  /** Invitations for the caller and into organizations the caller owns. */
  listInvitations(): Promise<Invitation[]> {
    return this.call('GET', '/api/invitations');
  }
  /** 409 (ApiError.id) when an unexpired invitation for that user and organization exists. */
  createInvitation(body: AddInvitation): Promise<Invitation> {
    return this.call('POST', '/api/invitations', body);
  }
  getInvitation(id: string): Promise<Invitation> {
    return this.call('GET', `/api/invitations/${enc(id)}`);
  }
  /** Joins the invitation's organization with its roles (204). */
  acceptInvitation(id: string): Promise<void> {
    return this.call('POST', `/api/invitations/${enc(id)}/accept`);
  }
  deleteInvitation(id: string): Promise<void> {
    return this.call('DELETE', `/api/invitations/${enc(id)}`);
  }

  // service networks and sites
  listServiceNetworks(): Promise<ServiceNetwork[]> {
    return this.call('GET', '/api/service-networks');
  }
  createServiceNetwork(body: AddServiceNetwork): Promise<ServiceNetwork> {
    return this.call('POST', '/api/service-networks', body);
  }
  getServiceNetwork(id: string): Promise<ServiceNetwork> {
    return this.call('GET', `/api/service-networks/${enc(id)}`);
  }
  updateServiceNetwork(id: string, body: UpdateServiceNetwork): Promise<ServiceNetwork> {
    return this.call('PATCH', `/api/service-networks/${enc(id)}`, body);
  }
  deleteServiceNetwork(id: string): Promise<ServiceNetwork> {
    return this.call('DELETE', `/api/service-networks/${enc(id)}`);
  }
  listSitesInServiceNetwork(id: string): Promise<Site[]> {
    return this.call('GET', `/api/service-networks/${enc(id)}/sites`);
  }
  listSites(): Promise<Site[]> {
    return this.call('GET', '/api/sites');
  }
  createSite(body: AddSite): Promise<Site> {
    return this.call('POST', '/api/sites', body);
  }
  getSite(id: string): Promise<Site> {
    return this.call('GET', `/api/sites/${enc(id)}`);
  }
  updateSite(id: string, body: UpdateSite): Promise<Site> {
    return this.call('PATCH', `/api/sites/${enc(id)}`, body);
  }
  deleteSite(id: string): Promise<Site> {
    return this.call('DELETE', `/api/sites/${enc(id)}`);
  }

  /**
   * Opens a watch stream: the current objects as `change` events, then `tail` per watch, then live
   * `change`/`delete` events (increasing `revision`) and periodic `bookmark`s. Resume after a disconnect by
   * passing the last seen revision per kind as `gt_revision`. Ends when `signal` aborts or the server closes.
   * `publicKey` marks that device online while the stream is open.
   */
  async *watchEvents(
    vpcId: string,
    watches: Watch[],
    opts: { publicKey?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<WatchEvent> {
    const qs = opts.publicKey ? `?public_key=${enc(opts.publicKey)}` : '';
    const path = `/api/vpcs/${enc(vpcId)}/events${qs}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.baseUrl + path, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: WATCH_CONTENT_TYPE,
          ...(await this.authHeader()),
        },
        body: JSON.stringify(watches),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        headersTimeout: this.timeoutMs,
        // The stream is idle between events; bookmarks keep it alive, so no body timeout.
        bodyTimeout: 0,
      });
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw new ApiError(0, 'NEX_CLIENT_ERR_NETWORK', `POST ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (res.statusCode !== 200) throw ApiError.fromResponse(res.statusCode, await res.body.text());
    try {
      yield* parseWatchStream(res.body);
    } catch (err) {
      if (opts.signal?.aborted) return;
      // A malformed stream is the server's fault, not the network's: keep parseWatchStream's code.
      if (err instanceof ApiError) throw err;
      const code = err instanceof SyntaxError ? 'NEX_CLIENT_ERR_BAD_RESPONSE' : 'NEX_CLIENT_ERR_NETWORK';
      throw new ApiError(200, code, `watch stream ended: ${(err as Error).message}`, { cause: err });
    } finally {
      if (!res.body.destroyed) res.body.destroy();
    }
  }

  /** Closes the connection pool created for caFile/insecureSkipTlsVerify. */
  async close(): Promise<void> {
    if (this.ownsDispatcher && this.dispatcher) await this.dispatcher.close();
  }
}
