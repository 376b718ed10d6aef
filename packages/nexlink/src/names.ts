// SPDX-License-Identifier: Apache-2.0
// Names nexlink checks (a user's labels) and names it makes (its objects), within Kubernetes' limits.
import { createHash } from 'node:crypto';

/** RFC 1123 label: what a realm must be (it is a label value and a part of object names), i.e. `shop`. */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1035 label: what a Service name must be, i.e. `nginx`. */
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const MAX_LABEL_LENGTH = 63;
/**
 * Longest StatefulSet name: its Pods are `<name>-<ordinal>` and carry the label
 * `controller-revision-hash=<name>-<10 characters>`, which must fit in a 63-character label value.
 */
export const MAX_STATEFULSET_NAME = 52;
const HASH_LENGTH = 8;

/** `prefix` + `name`, shortened with a hash of `name` when it would not fit in `max` characters. */
export function objectName(prefix: string, name: string, max = MAX_STATEFULSET_NAME): string {
  const full = `${prefix}${name}`;
  if (full.length <= max) return full;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH_LENGTH);
  const keep = max - prefix.length - HASH_LENGTH - 1;
  return `${prefix}${name.slice(0, keep).replace(/-+$/, '')}-${hash}`;
}

export function isRealm(v: string): boolean {
  return v.length <= MAX_LABEL_LENGTH && DNS1123_LABEL.test(v);
}

export function isServiceName(v: string): boolean {
  return v.length <= MAX_LABEL_LENGTH && DNS1035_LABEL.test(v);
}
