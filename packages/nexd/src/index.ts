// SPDX-License-Identifier: Apache-2.0
// Public API of @nexodus/nexd (the daemon's parts, for embedding and for the data-plane wiring).
export { type AgentPlaneOptions, agentDataPlane, kernelWireGuardAvailable } from './agent/agent-plane.js';
export { AgentTunnel, DEFAULT_TUNNEL_IFACE, hostAddresses } from './agent/agent-tunnel.js';
export { configureLink, RouteTable, type RunIp, runIp } from './agent/ip-link.js';
export { agentPreflight, TUN_PATH, TunDevice, type TunEnvironment } from './agent/tun-device.js';
export {
  DEFAULT_STATE_DIR,
  type GlobalConfig,
  type NexdCommand,
  type ResolveResult,
  resolveNexdArgs,
} from './config.js';
export * from './control/index.js';
export { type ControlHandlers, type ControlServer, serveControl } from './control/server.js';
export { type Daemon, type DaemonOptions, startDaemon } from './daemon.js';
export {
  type DataPlane,
  type DataPlaneContext,
  type DataPlaneFactory,
  unavailableDataPlane,
} from './data-plane.js';
export { localEndpoints, type RegisteredEndpoint } from './endpoints.js';
export * from './errors.js';
export { NexdMetrics } from './health/metrics.js';
export { Readiness, type ReadinessCondition } from './health/readiness.js';
export { type HealthServer, startHealthServer } from './health/server.js';
export * from './keys.js';
export { createLogger, formatAddressLine, LOG_LEVELS, type LogLevel, logAddresses } from './log.js';
export * from './peers/follower.js';
export * from './peers/reconcile.js';
export { type PeerSync, type PeerSyncOptions, startPeerSync } from './peers/sync.js';
export * from './proxy/network.js';
export * from './proxy/node-network.js';
export { type CloseResult, ProxyEngine, type ProxyOptions, type RuleStatus } from './proxy/proxy.js';
export * from './proxy/rules.js';
export { RuleStats, type RuleStatsSnapshot } from './proxy/stats.js';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type RunDeps, type RunIo, runNexd } from './run.js';
export { serviceError } from './service/failures.js';
export { type LoginOptions, login, type Session, toStoredTokens } from './service/login.js';
export { deviceAddresses, type Registration, registerDevice } from './service/registration.js';
export {
  PEER_PERSISTENT_KEEPALIVE_S,
  type ServicePlaneOptions,
  serviceDataPlane,
} from './service/service-plane.js';
export { installGracefulShutdown } from './shutdown.js';
export { FileStateStore, STATE_FILE_NAME } from './state/file-store.js';
export * from './state/secret-store.js';
export {
  inCluster,
  inClusterConfig,
  openSecretStore,
  rootOwner,
  SERVICE_ACCOUNT_DIR,
} from './state/secret-target.js';
export * from './state/state.js';
export { type StateStore, updateState } from './state/store.js';
export { type RefreshTokens, TOKEN_REFRESH_SKEW_MS, TokenKeeper, type TokenKeeperOptions } from './tokens.js';
export { EnginePeers, HANDSHAKE_HOLD_BACK_MS } from './tunnel/engine-peers.js';
export { userspaceDataPlane } from './tunnel/index.js';
export { NetStackDatagramNetwork, NetStackStreamNetwork } from './tunnel/netstack-network.js';
export { buildEchoRequest, PING_PAYLOAD_SIZE, Pinger } from './tunnel/pinger.js';
export { standaloneDataPlane, standalonePlane } from './tunnel/standalone-plane.js';
export {
  type OpenTunnel,
  TUNNEL_MTU,
  Tunnel,
  type TunnelHandle,
  type TunnelOptions,
} from './tunnel/tunnel.js';
export { NEXD_VERSION } from './version.js';
export * from './wg-config.js';
