// SPDX-License-Identifier: Apache-2.0
// Keeps the gate's policy equal to this device's security group: the VPC's groups come from the watch
// stream (kind `security-group`, followed with the same reconnecting follower as the devices), the
// device's group id from its registration and later from its own device record. A change of either
// recompiles the policy; connections it no longer allows are closed (gate.ts).
import type { Logger } from 'pino';
import type { Readiness } from '../health/readiness.js';
import { type OpenWatch, PeerStreamFollower } from '../peers/follower.js';
import { type SecurityGroupInput, SecurityPolicy } from './filter.js';
import type { SecurityGate } from './gate.js';

export interface SecurityFollowerOptions {
  /** Opens the `security-group` watch. */
  open: OpenWatch;
  gate: SecurityGate;
  logger: Logger;
  readiness: Readiness;
  /** The device's group at registration (`security_group_id`), if any. */
  groupId: string | undefined;
  follower?: { initialBackoffMs?: number; maxBackoffMs?: number };
}

export interface SecurityFollower {
  /** The device record said its group is now `groupId`. */
  setGroupId(groupId: string | undefined): void;
  stop(): Promise<void>;
}

export function followSecurityGroups(options: SecurityFollowerOptions): SecurityFollower {
  const { gate, logger, readiness } = options;
  let groupId = options.groupId;
  let groups: ReadonlyMap<string, unknown> | undefined;
  let appliedKey = '';
  const apply = () => {
    if (!groups) return;
    const group = groupId ? (groups.get(groupId) as SecurityGroupInput | undefined) : undefined;
    // An unknown group (none set, or not in the VPC's listing) filters nothing, as the original's
    // default group permits everything.
    const key = JSON.stringify(group ?? null);
    if (key === appliedKey) return;
    appliedKey = key;
    const closed = gate.setPolicy(group ? SecurityPolicy.compile(group) : SecurityPolicy.allowAll());
    logger.info(
      {
        securityGroupId: groupId,
        inboundRules: group?.inbound_rules?.length ?? 0,
        outboundRules: group?.outbound_rules?.length ?? 0,
        closed,
      },
      group ? 'security group applied' : 'no security group for this device; nothing filtered',
    );
  };
  const follower = new PeerStreamFollower({
    ...options.follower,
    open: options.open,
    onDevices: (map) => {
      groups = map;
      apply();
    },
    onTail: () => readiness.set('security-groups'),
    onReconnect: (attempt, delayMs, cause) =>
      logger.warn(
        { attempt, delayMs, err: String(cause) },
        'security group watch lost; keeping the current policy and reconnecting',
      ),
  });
  follower.start();
  return {
    setGroupId: (id) => {
      if (id === groupId) return;
      groupId = id;
      apply();
    },
    stop: () => follower.stop(),
  };
}
