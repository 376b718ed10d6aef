// SPDX-License-Identifier: Apache-2.0
// Test doubles and the simulator (subpath export `@nexodus/netstack/testing`).
export { type FaultOptions, FaultyLink } from './faulty-link.js';
export { MemoryLink } from './memory-link.js';
export { fillPattern, Prng, patternByte } from './prng.js';
export { Simulator, type SimulatorOptions, type WireOptions } from './simulator.js';
export { describePacket, describeTcpFlags, TracingLink } from './tracing-link.js';
