// SPDX-License-Identifier: Apache-2.0
// What the reconcilers share: the cluster, the caches, the Nexodus session and the settings.
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Cluster } from '../kube/cluster.js';
import type { EventRecorder } from '../kube/events.js';
import type { Informers } from '../kube/informers.js';
import type { NexlinkMetrics } from '../metrics.js';
import type { Session } from '../nexodus/session.js';
import type { VpcCache } from '../nexodus/vpc-cache.js';
import type { ProxySettings } from '../proxy/workload.js';

export interface ControllerContext {
  config: Config;
  cluster: Cluster;
  informers: Informers;
  events: EventRecorder;
  session: Session;
  vpc: VpcCache;
  settings: ProxySettings;
  metrics: NexlinkMetrics;
  log: Logger;
  /** The ServiceImport CRD is installed: every import gets one (set at start). */
  serviceImports?: boolean;
}
