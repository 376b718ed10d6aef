// SPDX-License-Identifier: Apache-2.0
// `@nexodus/nexd/control`: what nexctl needs to talk to a running nexd, without loading the daemon.
export { ControlCallError, ControlClient } from './client.js';
export * from './protocol.js';
