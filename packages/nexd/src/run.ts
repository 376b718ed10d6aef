// SPDX-License-Identifier: Apache-2.0
// The body of the `nexd` command, separate from the bin shim so tests can run it in-process or in a child
// with a different data plane. Exit codes: 0 ok, 1 runtime failure, 2 bad command line.
import { agentDataPlane } from './agent/agent-plane.js';
import { resolveNexdArgs } from './config.js';
import { type Daemon, startDaemon } from './daemon.js';
import type { DataPlaneFactory } from './data-plane.js';
import { describeError } from './errors.js';
import type { KeyLocations } from './keys.js';
import { createLogger } from './log.js';
import type { ProxySide } from './proxy/network.js';
import type { ProxyEngine } from './proxy/proxy.js';
import { installGracefulShutdown } from './shutdown.js';
import { FileStateStore } from './state/file-store.js';
import { inCluster } from './state/in-cluster.js';
import type { StateStore } from './state/store.js';
import { userspaceDataPlane } from './tunnel/index.js';
import { NEXD_VERSION } from './version.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface RunIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface RunDeps {
  dataPlane?: DataPlaneFactory;
  /** The data plane of agent mode (default: the TUN device, agentDataPlane). */
  agentDataPlane?: DataPlaneFactory;
  local?: ProxySide;
  keyLocations?: KeyLocations;
  /** Where the pod's ServiceAccount token, CA and namespace are (default: the kubelet's mount). */
  serviceAccountDir?: string;
  /** Called once the daemon is up (tests use it to reach the Daemon). */
  onStarted?: (daemon: Daemon) => void;
}

export const processIo: RunIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Runs nexd; resolves with the exit code (for `proxy` and agent mode, once a signal has stopped it). */
export async function runNexd(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: RunIo = processIo,
  deps: RunDeps = {},
): Promise<number> {
  const resolved = resolveNexdArgs(argv, env);
  if (!resolved.ok) {
    io.stderr(`nexd: ${resolved.error.message}\n`);
    return EXIT_USAGE;
  }
  const command = resolved.command;
  switch (command.kind) {
    case 'help':
      io.stdout(command.text);
      return EXIT_OK;
    case 'version':
      io.stdout(`nexd ${NEXD_VERSION}\n`);
      return EXIT_OK;
    case 'agent':
    case 'proxy':
      break;
    default: {
      const never: never = command;
      throw new Error(`unreachable command ${JSON.stringify(never)}`);
    }
  }
  const { config } = command;
  const rules = command.kind === 'proxy' ? command.rules : [];
  const dataPlane =
    command.kind === 'agent'
      ? (deps.agentDataPlane ??
        agentDataPlane({ ...(config.tunnelIface ? { ifname: config.tunnelIface } : {}) }))
      : (deps.dataPlane ?? userspaceDataPlane());
  const logger = createLogger(config.logLevel);
  let daemon: Daemon;
  try {
    // In a pod the state goes to a Secret (as the original nexd did), unless a --state-dir asks for a file.
    const explicitSecret = config.stateSecret !== undefined;
    const useSecret = explicitSecret || (!config.stateDirGiven && inCluster(env, deps.serviceAccountDir));
    // Loaded only here: the Kubernetes client is large (see state/in-cluster.ts).
    const secretStore = async () =>
      (await import('./state/secret-target.js')).openSecretStore({
        env,
        ...(config.stateSecret ? { name: config.stateSecret } : {}),
        ...(deps.serviceAccountDir ? { serviceAccountDir: deps.serviceAccountDir } : {}),
        logger,
      });
    // Loaded only when asked for, as the Secret store.
    const rulesConfigMapSource = (name: string) => async (engine: ProxyEngine, onSynced: () => void) => {
      const [{ RulesConfigMap }, { kubeTarget }] = await Promise.all([
        import('./proxy/rules-configmap.js'),
        import('./state/secret-target.js'),
      ]);
      const { kc, namespace } = kubeTarget(env, deps.serviceAccountDir);
      const source = new RulesConfigMap({ kc, namespace, name, engine, logger, onSynced });
      source.start();
      return source;
    };
    let store: StateStore = new FileStateStore(config.stateDir);
    if (explicitSecret) store = await secretStore();
    else if (useSecret) {
      // Chosen only because this is a pod: a pod without the Role (the scenario's manifests ship none)
      // still runs, on the file store, and says what it loses and how to fix it. Asked for, it is fatal.
      try {
        const s = await secretStore();
        await s.load();
        store = s;
      } catch (err) {
        if ((err as { code?: string }).code !== 'NEX_ERR_STATE_FORBIDDEN') throw err;
        logger.warn(
          { err: (err as Error).message, state: store.location },
          'the pod may not keep its state in a Secret: using the file store, so a restarted pod gets a new identity (add deploy/rbac/nexd-state.yaml, or --state-secret NAME with its Role)',
        );
      }
    }
    logger.info({ state: store.location }, 'state store');
    daemon = await startDaemon({
      config,
      rules,
      logger,
      store,
      dataPlane,
      kind: command.kind,
      ...(config.rulesConfigMap ? { rulesSource: rulesConfigMapSource(config.rulesConfigMap) } : {}),
      ...(deps.local ? { local: deps.local } : {}),
      keyLocations: { ...deps.keyLocations, privateKeyFile: config.privateKeyFile },
    });
  } catch (err) {
    // One line, on stderr (where a shell and `kubectl logs` both show it), not also as a JSON log line.
    io.stderr(`nexd: ${describeError(err)}\n`);
    return EXIT_FAILURE;
  }
  deps.onStarted?.(daemon);
  return new Promise<number>((resolve) => {
    const uninstall = installGracefulShutdown(
      async () => {
        await daemon.stop(config.drainSeconds * 1000);
      },
      {
        logger,
        exit: (code) => {
          uninstall();
          resolve(code);
        },
      },
    );
  });
}
