// SPDX-License-Identifier: Apache-2.0
// Pure helpers that turn a device and its metadata into what the pages show.
import type { Device, DeviceMetadata } from '@nexodus/api/schemas';

export interface NexlinkExport {
  realm?: string;
  services: Array<{ name: string; protocol?: string; port?: number }>;
}

/** The `nexlink` metadata value ({realm, services: [{name, protocol, port}]}), if well-formed. */
export function nexlinkOf(meta: DeviceMetadata[], deviceId: string): NexlinkExport | undefined {
  const m = meta.find((x) => x.device_id === deviceId && x.key === 'nexlink');
  const v = m?.value as { realm?: unknown; services?: unknown } | undefined;
  if (!v || typeof v !== 'object' || !Array.isArray(v.services)) return undefined;
  const services = v.services
    .filter((s): s is { name: string; protocol?: string; port?: number } => typeof s?.name === 'string')
    .map((s) => ({ name: s.name, protocol: s.protocol, port: s.port }));
  return { ...(typeof v.realm === 'string' ? { realm: v.realm } : {}), services };
}

/** Proxy rules a nexd published (`proxy` or `proxy-rules` metadata: an array of rule strings or {rule}). */
export function proxyRulesOf(meta: DeviceMetadata[], deviceId: string): string[] {
  const m = meta.find((x) => x.device_id === deviceId && (x.key === 'proxy' || x.key === 'proxy-rules'));
  const v = m?.value as unknown;
  const list = Array.isArray(v)
    ? v
    : Array.isArray((v as { rules?: unknown })?.rules)
      ? (v as { rules: unknown[] }).rules
      : [];
  return list
    .map((r) =>
      typeof r === 'string'
        ? r
        : typeof r === 'object' && r !== null && 'type' in r && 'rule' in r
          ? `${String((r as { type: unknown }).type)} ${String((r as { rule: unknown }).rule)}`
          : '',
    )
    .filter(Boolean);
}

export function ipv4Of(d: Device): string | undefined {
  return d.ipv4_tunnel_ips[0]?.address;
}
export function ipv6Of(d: Device): string | undefined {
  return d.ipv6_tunnel_ips[0]?.address;
}

/** "Online", or "Offline, last seen <time>" / "Offline" in the reader's locale. */
export function statusText(d: Device): string {
  if (d.online) return 'Online';
  if (!d.online_at) return 'Offline';
  return `Offline, last seen ${new Date(d.online_at).toLocaleString()}`;
}
