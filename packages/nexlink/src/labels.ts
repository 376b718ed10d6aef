// SPDX-License-Identifier: Apache-2.0
// The labels and annotations nexlink reads on a user's Service and writes on what it creates.

/** On a user's Service: `true` exports it to the realm. */
export const EXPORT_LABEL = 'nexlink.nexodus.io/export';
/** On a user's Service: the realm to export into (default: nexlink's realm), i.e. `shop`. */
export const REALM_LABEL = 'nexlink.nexodus.io/realm';
/** On a user's Service: the name it has in the other clusters (default: its own name). */
export const NAME_LABEL = 'nexlink.nexodus.io/name';
/** On a user's Service: how many exporting proxies (default: nexlink's `--replicas`). */
export const REPLICAS_LABEL = 'nexlink.nexodus.io/replicas';

/**
 * On a user's Service (selector-less, in nexlink's namespace): the hostname or VPC address of a device it
 * should reach, i.e. `demo2-device` or `100.100.0.1`; nexlink runs an egress proxy and writes the Service's
 * EndpointSlice (as Tailscale's operator does with `tailscale.com/tailnet-fqdn`).
 */
export const DEVICE_ANNOTATION = 'nexlink.nexodus.io/device';

/** The EndpointSlice label saying who manages it (the EndpointSlice controller leaves such slices alone). */
export const SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_MANAGED_BY = 'nexlink.nexodus.io';
/** The EndpointSlice label naming its Service (what kube-proxy and cluster DNS look up). */
export const SLICE_SERVICE_LABEL = 'kubernetes.io/service-name';

/** On everything nexlink creates, so that nothing else in the namespace is ever touched. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'nexlink';
/** On everything nexlink creates: `export`, `import` or `device`. */
export const ROLE_LABEL = 'nexlink.nexodus.io/role';
/** On export and device objects: the user's Service name; on import objects: the imported name. */
export const SERVICE_LABEL = 'nexlink.nexodus.io/service';
/** Selects one proxy workload's Pods. */
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const NAME_APP_LABEL = 'app.kubernetes.io/name';

/** On an exported Service, so that an export's device metadata is removed before the Service goes. */
export const FINALIZER = 'nexlink.nexodus.io/cleanup';

/** The device metadata key of an exporting proxy (the design's `{nexlink: {realm, services}}`). */
export const METADATA_KEY = 'nexlink';

/** The field manager of nexlink's server-side applies. */
export const FIELD_MANAGER = 'nexlink';

export type ProxyRole = 'export' | 'import' | 'device';

/** Labels of an object nexlink creates for `role` of `service`. */
export function managedLabels(role: ProxyRole, service: string, instance: string): Record<string, string> {
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [ROLE_LABEL]: role,
    [SERVICE_LABEL]: service,
    [NAME_APP_LABEL]: 'nexd-proxy',
    [INSTANCE_LABEL]: instance,
  };
}
