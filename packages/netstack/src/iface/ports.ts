// SPDX-License-Identifier: Apache-2.0
// The local ports the interface picks from when the caller gives none (TCP connect, UDP bind to port 0).

/** RFC 6335 6: dynamic ports 49152-65535. */
export const EPHEMERAL_FIRST = 49152;
export const EPHEMERAL_COUNT = 65536 - EPHEMERAL_FIRST;
