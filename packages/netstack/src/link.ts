// SPDX-License-Identifier: Apache-2.0
// The seam between the stack and whatever carries its IP packets (a WireGuard tunnel, a test double).

/** Receives IP packets the stack emits. The callee must not keep `packet` after returning (copy to queue). */
export interface PacketLink {
  send(packet: Uint8Array): void;
}
