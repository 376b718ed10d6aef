// SPDX-License-Identifier: Apache-2.0
// What a container image means to the test node agent. No registry is reachable here, so an image name maps
// to a root filesystem built on this machine: a writable overlay of the host's own root (Debian's nginx,
// curl, sh, python3 are there), plus the files that image would carry (nginx's config and document root;
// nexd and nexctl on PATH, with the key links the seed's `ln -s` expects). Every container writes only into
// its own overlay upper dir, so nothing reaches the host or another container.

import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: containers of the nexd image run its build (bind-mounted read-only at the same path). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

export interface ContainerImage {
  /** The command when the Pod gives none (the image's ENTRYPOINT + CMD). */
  defaultCommand?: string[];
  /** Host paths bind-mounted read-only into the container at the same path (beyond the root overlay). */
  binds?: string[];
  /** Writes the image's own files into `upper` (the overlay's upper dir, i.e. the container's root). */
  prepare?(upper: string): void;
}

function write(upper: string, path: string, text: string, mode = 0o644): void {
  const p = join(upper, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  chmodSync(p, mode);
}

/** nginx as the official image behaves: serves /usr/share/nginx/html on port 80 (IPv4 and IPv6), logs to stdio. */
const nginx: ContainerImage = {
  defaultCommand: ['nginx', '-g', 'daemon off;'],
  prepare(upper) {
    write(
      upper,
      'etc/nginx/nginx.conf',
      `user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  # Node gives a child socket pairs, not pipes, for stdio: /dev/stdout cannot be opened, so no access log.
  access_log off;
  server {
    listen 80;
    listen [::]:80;
    root /usr/share/nginx/html;
    index index.html;
  }
}
`,
    );
    write(upper, 'usr/share/nginx/html/index.html', 'Welcome to nginx!\n');
  },
};

/** A distribution image: the host's tools (sh, curl) and no command of its own. */
const distribution: ContainerImage = {};

/** Our nexd image: `nexd`, `nexctl` and `nexlink` on PATH and the seed's key links already in place (as the real image). */
const nexd: ContainerImage = {
  binds: [REPO_ROOT],
  prepare(upper) {
    for (const bin of ['nexd', 'nexctl', 'nexlink']) {
      write(
        upper,
        `usr/local/bin/${bin}`,
        `#!/bin/sh\nexec ${REPO_ROOT}/node_modules/.bin/${bin} "$@"\n`,
        0o755,
      );
    }
    // The seed runs `ln -s /etc/wireguard/private.key /private.key` (and public.key); the image ships the
    // links, so that command fails harmlessly on a read-only root and nexd finds the keys either way.
    for (const k of ['private.key', 'public.key']) symlinkSync(`/etc/wireguard/${k}`, join(upper, k));
    // The real image has no /etc/wireguard: the host's (wireguard-tools', mode 0700) must not show through the
    // overlay, or the links above give EACCES instead of ENOENT to uid 65532. An upper dir's mode wins.
    mkdirSync(join(upper, 'etc/wireguard'), { recursive: true, mode: 0o755 });
    chmodSync(join(upper, 'etc/wireguard'), 0o755);
    mkdirSync(join(upper, 'var/lib/nexd'), { recursive: true, mode: 0o777 });
    chmodSync(join(upper, 'var/lib/nexd'), 0o777);
  },
};

const IMAGES: Record<string, ContainerImage> = {
  nginx,
  'nginx:latest': nginx,
  'fedora:latest': distribution,
  fedora: distribution,
  'debian:12': distribution,
  busybox: distribution,
  'localhost/nexodus-ts/nexd:0.1.0': nexd,
  'quay.io/nexodus/nexd': nexd,
  'quay.io/nexodus/nexd:latest': nexd,
};

/** The image for `name`, or undefined when the table has no entry (the Pod then fails with ErrImagePull). */
export function lookupImage(name: string): ContainerImage | undefined {
  return IMAGES[name];
}
