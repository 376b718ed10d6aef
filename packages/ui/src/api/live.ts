// SPDX-License-Identifier: Apache-2.0
// Live updates in one place: one watch stream per VPC the user can see (`POST /api/vpcs/{id}/events`),
// folded into the query cache, so every list shows a new, changed, offline or deleted object at once.
// A dropped stream is resumed after a pause with the last revision seen per kind.
import type { Device, DeviceMetadata, SecurityGroup, WatchEvent, WatchKind } from '@nexodus/api/schemas';
import { type QueryClient, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import type { UiApi } from './client.js';
import { useApi } from './context.js';
import { keys, useVpcs } from './hooks.js';

const RETRY_MS = 2000;
const KINDS: WatchKind[] = ['device', 'device-metadata', 'security-group'];

function upsert<T>(
  list: T[] | undefined,
  item: T,
  same: (a: T) => boolean,
  remove: boolean,
): T[] | undefined {
  if (!list) return list;
  const rest = list.filter((x) => !same(x));
  return remove ? rest : [...rest, item];
}

/** Applies one event to the cache (exported for the component tests). */
export function applyEvent(qc: QueryClient, vpcId: string, ev: WatchEvent): void {
  if (ev.type !== 'change' && ev.type !== 'delete') return;
  const remove = ev.type === 'delete';
  switch (ev.kind) {
    case 'device': {
      const d = ev.value as Device;
      qc.setQueryData<Device[]>(keys.devices, (l) =>
        upsert(l, d, (x) => x.id === d.id, remove)?.sort((a, b) => a.hostname.localeCompare(b.hostname)),
      );
      break;
    }
    case 'device-metadata': {
      const m = ev.value as DeviceMetadata;
      qc.setQueryData<DeviceMetadata[]>(keys.vpcMetadata(vpcId), (l) =>
        upsert(l, m, (x) => x.device_id === m.device_id && x.key === m.key, remove),
      );
      break;
    }
    case 'security-group': {
      const g = ev.value as SecurityGroup;
      qc.setQueryData<SecurityGroup[]>(keys.securityGroups, (l) =>
        upsert(l, g, (x) => x.id === g.id, remove),
      );
      break;
    }
  }
}

async function follow(api: UiApi, qc: QueryClient, vpcId: string, signal: AbortSignal): Promise<void> {
  const revisions: Record<string, number> = {};
  while (!signal.aborted) {
    try {
      const watches = KINDS.map((kind) => ({ kind, gt_revision: revisions[kind] ?? 0 }));
      for await (const ev of api.watch(vpcId, watches, signal)) {
        const rev = (ev.value as { revision?: number } | undefined)?.revision;
        if (typeof rev === 'number' && rev > (revisions[ev.kind] ?? 0)) revisions[ev.kind] = rev;
        applyEvent(qc, vpcId, ev);
      }
    } catch {
      // Network drop, server restart, expired token: resume below.
    }
    if (signal.aborted) return;
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}

/** Mount once (the layout does): keeps a stream open per visible VPC while signed in. */
export function useLiveUpdates(): void {
  const api = useApi();
  const qc = useQueryClient();
  const vpcs = useVpcs();
  const ids = (vpcs.data ?? [])
    .map((v) => v.id)
    .sort()
    .join(',');
  useEffect(() => {
    if (!ids) return;
    const ctl = new AbortController();
    for (const id of ids.split(',')) void follow(api, qc, id, ctl.signal);
    return () => ctl.abort();
  }, [api, qc, ids]);
}
