// SPDX-License-Identifier: Apache-2.0
// One container of a test Pod as a process: in the Pod's network namespace, in a private mount and UTS
// namespace, chrooted into an overlay of the host's root whose upper dir is the container's own (so what it
// writes, i.e. the seed's `ln -s ... /private.key`, never reaches the host or another container), with its
// volumes bind-mounted at their mountPath, its user, capabilities and no_new_privs from the securityContext
// (setpriv), and a read-only root when readOnlyRootFilesystem asks for one.

import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1PodSecurityContext } from '@kubernetes/client-node';
import type { Proc } from '../exec.js';
import type { Lab } from '../netns.js';
import type { ContainerImage } from './images.js';

export interface Mount {
  /** A host path: a volume's directory, or a file such as the Pod's resolv.conf. */
  source: string;
  /** Where it appears in the container, i.e. `/etc/wireguard`. */
  target: string;
  readOnly: boolean;
}

export interface ContainerRun {
  ns: string;
  hostname: string;
  /** The container's own directory: overlay upper/work dirs and the start script live here. */
  dir: string;
  image: ContainerImage;
  container: V1Container;
  podSecurity: V1PodSecurityContext | undefined;
  argv: string[];
  env: Map<string, string>;
  mounts: Mount[];
}

/**
 * `path` as it resolves inside the container, whose root is an overlay of the host's: symlinks on the way
 * (Debian's `/var/run -> /run`, where the ServiceAccount token is mounted) are followed as the container
 * will see them, so a mount lands where the container looks, and never on the host through an absolute
 * link. The part below the deepest existing directory is kept as written (it is created in the container).
 */
export function containerPath(path: string): string {
  const parts = path.split('/').filter(Boolean);
  for (let i = parts.length; i >= 0; i--) {
    const head = `/${parts.slice(0, i).join('/')}`;
    if (!existsSync(head)) continue;
    const real = realpathSync(head);
    return join(real, ...parts.slice(i));
  }
  return path;
}

/** Single-quotes `s` for sh. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** setpriv's arguments for the container's user, capabilities and privilege escalation. */
export function privilegeArgs(container: V1Container, pod: V1PodSecurityContext | undefined): string[] {
  const sc = container.securityContext;
  const uid = sc?.runAsUser ?? pod?.runAsUser;
  const gid = sc?.runAsGroup ?? pod?.runAsGroup ?? uid;
  const args: string[] = [];
  if (uid !== undefined) args.push(`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups');
  if (sc?.runAsNonRoot || pod?.runAsNonRoot) {
    if (uid === undefined || uid === 0) {
      // The kubelet refuses to start such a container (CreateContainerConfigError); so do we.
      throw new Error('container has runAsNonRoot but no non-zero runAsUser');
    }
  }
  if (sc?.capabilities?.drop?.some((c) => c.toUpperCase() === 'ALL')) {
    args.push('--inh-caps=-all', '--bounding-set=-all');
  }
  if (sc?.allowPrivilegeEscalation === false) args.push('--no-new-privs');
  return args;
}

/** The start script: every mount, then exec into the container's command. Paths baked in, quoted. */
export function startScript(run: ContainerRun): string {
  const m = join(run.dir, 'root');
  const upper = join(run.dir, 'upper');
  const work = join(run.dir, 'work');
  const q = shQuote;
  const lines = [
    'set -eu',
    `mount -t overlay overlay -o lowerdir=/,upperdir=${q(upper)},workdir=${q(work)} ${q(m)}`,
    `mount --rbind /dev ${q(`${m}/dev`)}`,
    `mount -t proc proc ${q(`${m}/proc`)}`,
    `mount --rbind /sys ${q(`${m}/sys`)}`,
    `mount -t tmpfs -o mode=1777 tmpfs ${q(`${m}/tmp`)}`,
    `mount -t tmpfs tmpfs ${q(`${m}/run`)}`,
  ];
  for (const mt of run.mounts) {
    const target = m + containerPath(mt.target);
    // A file mount (resolv.conf) needs a file to mount over; a volume a directory.
    lines.push(
      `[ -d ${q(mt.source)} ] && mkdir -p ${q(target)} || { [ -e ${q(target)} ] || : > ${q(target)}; }`,
    );
    lines.push(`mount --bind ${q(mt.source)} ${q(target)}`);
    if (mt.readOnly) lines.push(`mount -o remount,bind,ro ${q(target)}`);
  }
  // The image's own host paths last: a volume at /tmp (an emptyDir) must not hide a build under /tmp.
  for (const b of run.image.binds ?? []) {
    lines.push(
      `mkdir -p ${q(m + b)}`,
      `mount --bind ${q(b)} ${q(m + b)}`,
      `mount -o remount,bind,ro ${q(m + b)}`,
    );
  }
  lines.push(`hostname ${q(run.hostname)}`);
  if (run.container.securityContext?.readOnlyRootFilesystem) lines.push(`mount -o remount,bind,ro ${q(m)}`);
  const priv = privilegeArgs(run.container, run.podSecurity).map(q).join(' ');
  const cwd = run.container.workingDir ?? '/';
  lines.push(`exec chroot ${q(m)} setpriv ${priv} -- env -C ${q(cwd)} -- ${run.argv.map(q).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** Starts the container; its process is the container (signals reach the command: every step execs). */
export function startContainer(lab: Lab, run: ContainerRun): Proc {
  for (const d of ['root', 'upper', 'work']) mkdirSync(join(run.dir, d), { recursive: true });
  run.image.prepare?.(join(run.dir, 'upper'));
  const script = join(run.dir, 'start.sh');
  writeFileSync(script, startScript(run), { mode: 0o700 });
  return lab.spawn(run.ns, 'unshare', ['--mount', '--uts', '--propagation', 'private', 'sh', script], {
    env: Object.fromEntries(run.env),
  });
}
