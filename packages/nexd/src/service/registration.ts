// SPDX-License-Identifier: Apache-2.0
// Device registration: `POST /api/devices` with the public key, local endpoints, hostname, OS and the
// requested address. A restarted nexd (same key) gets 409 with the existing device's id and updates it
// with `PATCH /api/devices/{id}` instead, so it keeps its VPC addresses.
import { hostname } from 'node:os';
import { type AddDevice, ApiError, type Device, type NexodusClient } from '@nexodus/api';
import type { RegisteredEndpoint } from '../endpoints.js';
import { NexdError } from '../errors.js';

export interface RegistrationInput {
  publicKey: string;
  endpoints: RegisteredEndpoint[];
  requestIp?: string;
  hostname?: string;
  /** `--vpc-id`: register into this VPC instead of the user's default one. */
  vpcId?: string;
  /** `--security-group-id`. */
  securityGroupId?: string;
}

export interface Registration {
  device: Device;
  /** `created` on first start, `updated` when the key was registered already. */
  outcome: 'created' | 'updated';
  /** Netstack addresses with the VPC prefix, i.e. `['100.100.0.1/16', '200::1/64']`. */
  addresses: string[];
  ipv4: string[];
  ipv6: string[];
}

const HTTP_CONFLICT = 409;

function prefixOf(cidr: string | undefined, family: 4 | 6): number {
  const m = cidr ? /\/([0-9]{1,3})$/.exec(cidr) : null;
  return m ? Number(m[1]) : family === 4 ? 32 : 128;
}

/** The device's tunnel addresses as the netstack wants them. */
export function deviceAddresses(device: Device): Pick<Registration, 'addresses' | 'ipv4' | 'ipv6'> {
  const ipv4 = device.ipv4_tunnel_ips.map((t) => t.address);
  const ipv6 = device.ipv6_tunnel_ips.map((t) => t.address);
  const addresses = [
    ...device.ipv4_tunnel_ips.map((t) => `${t.address}/${prefixOf(t.cidr, 4)}`),
    ...device.ipv6_tunnel_ips.map((t) => `${t.address}/${prefixOf(t.cidr, 6)}`),
  ];
  return { addresses, ipv4, ipv6 };
}

export async function registerDevice(client: NexodusClient, input: RegistrationInput): Promise<Registration> {
  const name = input.hostname ?? hostname();
  const body: AddDevice = {
    public_key: input.publicKey,
    hostname: name,
    os: process.platform,
    endpoints: input.endpoints,
    ...(input.requestIp ? { ipv4_tunnel_ips: [{ address: input.requestIp }] } : {}),
    ...(input.vpcId ? { vpc_id: input.vpcId } : {}),
    ...(input.securityGroupId ? { security_group_id: input.securityGroupId } : {}),
  };
  let device: Device;
  let outcome: Registration['outcome'] = 'created';
  try {
    device = await client.createDevice(body);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== HTTP_CONFLICT) throw err;
    // A bare 409 (no id): the original's "resource already exists", or our message naming the key.
    if (!err.id && /public key|already exists/i.test(err.message)) {
      // The service names the device only to its owner: this key is held by someone else's device.
      throw new NexdError(
        'NEX_ERR_REGISTRATION',
        `the public key ${input.publicKey} is registered to a device this login does not own; another owner registered it (copied state?). Remove privateKey/publicKey from the state to generate a new key pair, and ask the administrator to delete the other device`,
      );
    }
    if (!err.id) throw err;
    device = await client.updateDevice(err.id, { hostname: name, endpoints: input.endpoints });
    outcome = 'updated';
  }
  if (device.ipv4_tunnel_ips.length === 0 && device.ipv6_tunnel_ips.length === 0) {
    throw new NexdError('NEX_ERR_REGISTRATION', `device ${device.id} was registered without any address`);
  }
  if (
    input.requestIp &&
    outcome === 'updated' &&
    !device.ipv4_tunnel_ips.some((t) => t.address === input.requestIp)
  ) {
    // The device keeps the address it got when first registered; say so instead of silently differing.
    throw new NexdError(
      'NEX_ERR_REGISTRATION',
      `--request-ip ${input.requestIp}: this device is already registered with ${device.ipv4_tunnel_ips
        .map((t) => t.address)
        .join(', ')}; drop --request-ip or delete the device first`,
    );
  }
  return { device, outcome, ...deviceAddresses(device) };
}
