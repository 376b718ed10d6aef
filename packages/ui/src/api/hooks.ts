// SPDX-License-Identifier: Apache-2.0
// Query and mutation hooks: the only way pages read or change data. Query keys are listed in `keys`, so
// the live stream (live.ts) and the mutations update the same cache entries.
import type {
  AddRegKey,
  AddSecurityGroup,
  AddVpc,
  DeviceMetadata,
  UpdateDevice,
  UpdateSecurityGroup,
} from '@nexodus/api/schemas';
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi } from './context.js';

export const keys = {
  me: ['me'] as const,
  devices: ['devices'] as const,
  vpcs: ['vpcs'] as const,
  vpcMetadata: (vpcId: string) => ['vpc-metadata', vpcId] as const,
  organizations: ['organizations'] as const,
  orgMembers: (id: string) => ['org-members', id] as const,
  regKeys: ['reg-keys'] as const,
  securityGroups: ['security-groups'] as const,
  invitations: ['invitations'] as const,
  adminUsers: ['admin-users'] as const,
};

export const useMe = () => useQuery({ queryKey: keys.me, queryFn: useApi().me });
export const useDevices = () => useQuery({ queryKey: keys.devices, queryFn: useApi().devices });
export const useVpcs = () => useQuery({ queryKey: keys.vpcs, queryFn: useApi().vpcs });
export function useVpcMetadata(vpcId: string | undefined) {
  const api = useApi();
  return useQuery({
    queryKey: keys.vpcMetadata(vpcId ?? ''),
    queryFn: () => api.vpcMetadata(vpcId ?? ''),
    enabled: vpcId !== undefined,
  });
}
/** Metadata of every listed VPC, merged (one query per VPC; the watch stream keeps each live). */
export function useAllVpcMetadata(vpcIds: string[]): DeviceMetadata[] {
  const api = useApi();
  const results = useQueries({
    queries: vpcIds.map((id) => ({ queryKey: keys.vpcMetadata(id), queryFn: () => api.vpcMetadata(id) })),
  });
  return results.flatMap((r) => r.data ?? []);
}
export const useOrganizations = () =>
  useQuery({ queryKey: keys.organizations, queryFn: useApi().organizations });
export function useOrgMembers(id: string) {
  const api = useApi();
  return useQuery({ queryKey: keys.orgMembers(id), queryFn: () => api.orgMembers(id), retry: false });
}
export const useRegKeys = () => useQuery({ queryKey: keys.regKeys, queryFn: useApi().regKeys });
export const useSecurityGroups = () =>
  useQuery({ queryKey: keys.securityGroups, queryFn: useApi().securityGroups });
export const useInvitations = () =>
  useQuery({ queryKey: keys.invitations, queryFn: useApi().invitations, retry: false });
export const useAdminUsers = () =>
  useQuery({ queryKey: keys.adminUsers, queryFn: useApi().adminUsers, retry: false });

function useInvalidating<A, R>(fn: (a: A) => Promise<R>, ...invalidate: ReadonlyArray<readonly string[]>) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: async () => {
      await Promise.all(invalidate.map((queryKey) => qc.invalidateQueries({ queryKey })));
    },
  });
}

export function useDeleteDevice() {
  const api = useApi();
  return useInvalidating((id: string) => api.deleteDevice(id), keys.devices);
}
export function useUpdateDevice() {
  const api = useApi();
  return useInvalidating(
    (a: { id: string; body: UpdateDevice }) => api.updateDevice(a.id, a.body),
    keys.devices,
  );
}
export function useCreateVpc() {
  const api = useApi();
  return useInvalidating((b: AddVpc) => api.createVpc(b), keys.vpcs);
}
export function useCreateRegKey() {
  const api = useApi();
  return useInvalidating((b: AddRegKey) => api.createRegKey(b), keys.regKeys);
}
export function useDeleteRegKey() {
  const api = useApi();
  return useInvalidating((id: string) => api.deleteRegKey(id), keys.regKeys);
}
export function useCreateSecurityGroup() {
  const api = useApi();
  return useInvalidating((b: AddSecurityGroup) => api.createSecurityGroup(b), keys.securityGroups);
}
export function useUpdateSecurityGroup() {
  const api = useApi();
  return useInvalidating(
    (a: { id: string; body: UpdateSecurityGroup }) => api.updateSecurityGroup(a.id, a.body),
    keys.securityGroups,
  );
}
export function useInvite() {
  const api = useApi();
  return useInvalidating(
    (b: { organization_id: string; user_id?: string; email?: string }) => api.invite(b),
    keys.invitations,
  );
}
export function useAnswerInvitation() {
  const api = useApi();
  return useInvalidating(
    (a: { id: string; accept: boolean }) =>
      a.accept ? api.acceptInvitation(a.id) : api.declineInvitation(a.id),
    keys.invitations,
    keys.organizations,
    keys.vpcs,
  );
}
