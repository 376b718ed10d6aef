// SPDX-License-Identifier: Apache-2.0
// Whether nexd runs in a pod, without loading the Kubernetes client: that library costs about 74 MiB of
// RSS at import (measured), so nexd loads it only when it keeps its state in a Secret (secret-target.ts).

import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where the kubelet mounts the pod's ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export type Env = Readonly<Record<string, string | undefined>>;

/** True when nexd runs in a pod: the API server's address in the environment and a token mounted. */
export function inCluster(env: Env, serviceAccountDir = SERVICE_ACCOUNT_DIR): boolean {
  return (
    !!env.KUBERNETES_SERVICE_HOST &&
    !!env.KUBERNETES_SERVICE_PORT &&
    existsSync(join(serviceAccountDir, 'token'))
  );
}
