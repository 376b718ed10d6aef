// SPDX-License-Identifier: Apache-2.0
// Agent mode (`nexd` without `proxy`): the same login, registration, peer sync and standalone mode as
// the proxy, with a TUN device instead of the netstack. Order: preflight (addon, /dev/net/tun, root)
// before anything touches the service, so a missing privilege never registers a device. Whether the
// kernel has WireGuard is detected and logged; this build always drives its own engine on the TUN.
import type { NativeBinding } from '@nexodus/native';
import type { Logger } from 'pino';
import type { DataPlaneFactory } from '../data-plane.js';
import { type ServicePlaneOptions, serviceDataPlane } from '../service/service-plane.js';
import { standalonePlane } from '../tunnel/standalone-plane.js';
import type { OpenTunnel } from '../tunnel/tunnel.js';
import { AgentTunnel, DEFAULT_TUNNEL_IFACE, hostAddresses } from './agent-tunnel.js';
import { type RunIp, runIp } from './ip-link.js';
import { agentPreflight, type TunEnvironment, type TunIoMode } from './tun-device.js';

export interface AgentPlaneOptions extends ServicePlaneOptions {
  /** Device name (default wg0, as the original nexd). */
  ifname?: string;
  env?: TunEnvironment;
  ip?: RunIp;
  /** TUN I/O path (default: NEXD_TUN_IO=offload|batched|fs, else 'batched'); see TunIoMode. */
  tunIo?: TunIoMode;
}

/**
 * Whether `ip link add NAME type wireguard` works here (the kernel module is loaded or loadable). The
 * probe device is deleted at once.
 */
export async function kernelWireGuardAvailable(ip: RunIp = runIp): Promise<boolean> {
  const probe = `nexdprobe${process.pid % 100000}`;
  try {
    await ip(['link', 'add', probe, 'type', 'wireguard']);
  } catch {
    return false;
  }
  await ip(['link', 'del', probe]).catch(() => {});
  return true;
}

async function logEngineChoice(logger: Logger, ip: RunIp): Promise<void> {
  const kernel = await kernelWireGuardAvailable(ip);
  logger.info(
    { kernelWireGuard: kernel, engine: 'userspace' },
    kernel
      ? 'the kernel has WireGuard; this build still runs its own engine on a TUN device'
      : 'no WireGuard in this kernel; running our own engine on a TUN device',
  );
}

export function agentDataPlane(options: AgentPlaneOptions = {}): DataPlaneFactory {
  const ifname = options.ifname ?? DEFAULT_TUNNEL_IFACE;
  const ip = options.ip ?? runIp;
  const env = process.env.NEXD_TUN_IO;
  const tunIo: TunIoMode =
    options.tunIo ?? (env === 'fs' || env === 'batched' || env === 'offload' ? env : 'batched');
  const opener =
    (binding: NativeBinding, service: boolean): OpenTunnel =>
    (opts) =>
      AgentTunnel.open({
        ...opts,
        binding,
        ifname,
        ip,
        tunIo,
        ...(service ? { deviceAddresses: hostAddresses } : {}),
      });
  return async (ctx) => {
    const binding = agentPreflight(options.env);
    await logEngineChoice(ctx.logger, ip);
    const plane = ctx.wgConfig
      ? await standalonePlane(opener(binding, false))(ctx)
      : await serviceDataPlane({ ...options, openTunnel: opener(binding, true) })(ctx);
    return { ...plane, device: { name: ifname, engine: 'userspace' } };
  };
}
