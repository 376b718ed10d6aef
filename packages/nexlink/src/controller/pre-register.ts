// SPDX-License-Identifier: Apache-2.0
// A new export's devices are registered by nexlink before its proxy Pods exist, so that the other clusters
// see the export (its metadata) at once and start their import proxies while ours start: the two Pod
// start-ups, each several seconds, run side by side instead of one after the other.
//
// How, without racing nexd: for each replica, nexlink makes a key pair, registers the device with its own
// login and *creates* the replica's state Secret with that identity (`state.json`: keys, device id, and the
// device token when logged in with a registration key). nexd starting in that Pod finds the key in its state,
// registers with it (the service answers "already registered" and nexd updates the device's endpoints) and
// carries on as after a restart. A create cannot overwrite anything: when the Secret exists already (a
// previous export's, still being deleted, or a nexd that wrote first), the create fails, the device just
// registered is deleted again and the replica registers itself as before.
import { generateKeyPairSync } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { statusOf } from '../kube/cluster.js';
import type { ControllerContext } from './context.js';
import { STATE_KEY } from './state-secret.js';

/** nexd's state format version (packages/nexd/src/state/state.ts). */
const STATE_VERSION = 1;
/** Our own field manager for `state.json`: nexlink's applies (no data) must never own, and so drop, it. */
const REGISTRAR = 'nexlink-registrar';

/** A WireGuard key pair, base64 as `wg genkey` / `wg pubkey` print them, the private key clamped. */
export function wireGuardKeyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const d = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  // RFC 7748 section 5, as wg genkey does; X25519 clamps anyway, so the public key is the same.
  d[0]! &= 248;
  d[31]! &= 127;
  d[31]! |= 64;
  return {
    privateKey: d.toString('base64'),
    publicKey: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64'),
  };
}

/**
 * Registers a device for each of `secrets` (the replicas' state Secrets as they are to be made) and creates
 * the Secret holding its identity. Returns how many were made; a replica whose Secret exists already is left
 * to register itself.
 */
export async function preRegister(ctx: ControllerContext, secrets: readonly V1Secret[]): Promise<number> {
  let made = 0;
  for (const secret of secrets) {
    const name = secret.metadata!.name!;
    const keys = wireGuardKeyPair();
    const device = await ctx.session.client.createDevice({
      public_key: keys.publicKey,
      // The Pod's name, which nexd registers as its hostname too.
      hostname: name,
      os: 'linux',
      endpoints: [],
      vpc_id: ctx.session.vpcId,
    });
    const state = {
      version: STATE_VERSION,
      privateKey: keys.privateKey,
      publicKey: keys.publicKey,
      deviceId: device.id,
      ...(device.bearer_token && ctx.config.login.kind === 'reg-key'
        ? { deviceToken: device.bearer_token }
        : {}),
      proxyRules: [],
    };
    try {
      await ctx.cluster.core.createNamespacedSecret({
        namespace: ctx.config.namespace,
        fieldManager: REGISTRAR,
        body: {
          ...secret,
          data: { [STATE_KEY]: Buffer.from(JSON.stringify(state)).toString('base64') },
        },
      });
      made++;
      ctx.log.info({ secret: name, deviceId: device.id }, 'device registered ahead of its proxy');
    } catch (err) {
      await ctx.session.client.deleteDevice(device.id).catch((e: unknown) => {
        ctx.log.warn({ deviceId: device.id, err: (e as Error).message }, 'cannot delete an unused device');
      });
      if (statusOf(err) !== 409) throw err;
    }
  }
  return made;
}
