// SPDX-License-Identifier: Apache-2.0
// The default data plane of `nexd proxy`: standalone with --wg-config, otherwise the service.
import type { DataPlaneFactory } from '../data-plane.js';
import { type ServicePlaneOptions, serviceDataPlane } from '../service/service-plane.js';
import { standaloneDataPlane } from './standalone-plane.js';

export function userspaceDataPlane(options: ServicePlaneOptions = {}): DataPlaneFactory {
  const service = serviceDataPlane(options);
  return (ctx) => (ctx.wgConfig ? standaloneDataPlane(ctx) : service(ctx));
}
