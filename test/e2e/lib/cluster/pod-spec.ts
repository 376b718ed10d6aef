// SPDX-License-Identifier: Apache-2.0
// The pure part of running a Pod: which environment a container gets and what its volumes are, from the
// Pod object and the Secrets/ConfigMaps it names. Pure (lookups are passed in), so the rules the kubelet
// applies can be tested without a node: `$(VAR)` expansion, `valueFrom` sources, `optional` keys.

import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';

/** Reads a key of a Secret or ConfigMap in the Pod's namespace; undefined when the object or key is missing. */
export type KeyLookup = (kind: 'Secret' | 'ConfigMap', name: string, key: string) => string | undefined;

export class PodSpecError extends Error {
  constructor(
    /** The kubelet's reason string for the container's waiting state, i.e. `CreateContainerConfigError`. */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'PodSpecError';
  }
}

/** The Downward API fields `fieldRef` may name (the kubelet's set). */
function fieldValue(pod: V1Pod, path: string, podIp: string, nodeName: string): string | undefined {
  switch (path) {
    case 'metadata.name':
      return pod.metadata?.name;
    case 'metadata.namespace':
      return pod.metadata?.namespace;
    case 'metadata.uid':
      return pod.metadata?.uid;
    case 'spec.nodeName':
      return nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName;
    case 'status.podIP':
    case 'status.hostIP':
      return path === 'status.podIP' ? podIp : undefined;
    default: {
      const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
      if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]!];
      return undefined;
    }
  }
}

/** `$(NAME)` references to earlier variables are expanded, `$$(NAME)` escapes, unknown ones stay as written. */
export function expandReferences(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) =>
    name === undefined ? '$' : (vars.get(name) ?? all),
  );
}

export interface EnvContext {
  pod: V1Pod;
  podIp: string;
  nodeName: string;
  lookup: KeyLookup;
  /** Variables every container gets first (KUBERNETES_SERVICE_HOST, ...). */
  base: Record<string, string>;
}

/** The container's environment, in the kubelet's order: base, then `env` entries (later ones see earlier). */
export function containerEnv(container: V1Container, ctx: EnvContext): Map<string, string> {
  const vars = new Map(Object.entries(ctx.base));
  for (const e of container.env ?? []) vars.set(e.name, envValue(e, ctx, vars));
  return vars;
}

function envValue(e: V1EnvVar, ctx: EnvContext, vars: ReadonlyMap<string, string>): string {
  if (e.valueFrom === undefined) return expandReferences(e.value ?? '', vars);
  const { secretKeyRef, configMapKeyRef, fieldRef } = e.valueFrom;
  const ref = secretKeyRef ?? configMapKeyRef;
  if (ref) {
    const kind = secretKeyRef ? 'Secret' : 'ConfigMap';
    const v = ctx.lookup(kind, ref.name ?? '', ref.key);
    if (v !== undefined) return v;
    if (ref.optional) return '';
    throw new PodSpecError(
      'CreateContainerConfigError',
      `env ${e.name}: ${kind.toLowerCase()} "${ref.name}" has no key "${ref.key}"`,
    );
  }
  if (fieldRef) {
    const v = fieldValue(ctx.pod, fieldRef.fieldPath, ctx.podIp, ctx.nodeName);
    if (v === undefined) {
      throw new PodSpecError(
        'CreateContainerConfigError',
        `env ${e.name}: unsupported fieldRef ${fieldRef.fieldPath}`,
      );
    }
    return v;
  }
  throw new PodSpecError('CreateContainerConfigError', `env ${e.name}: unsupported valueFrom`);
}

/** The argv a container runs: `command` replaces the image's entrypoint, `args` follow; `$(VAR)` expanded. */
export function containerArgv(
  container: V1Container,
  imageDefault: readonly string[] | undefined,
  vars: ReadonlyMap<string, string>,
): string[] {
  const argv = [...(container.command ?? imageDefault ?? []), ...(container.args ?? [])];
  if (argv.length === 0) {
    throw new PodSpecError(
      'CreateContainerError',
      `container ${container.name}: no command and the image has none`,
    );
  }
  return argv.map((a) => expandReferences(a, vars));
}
