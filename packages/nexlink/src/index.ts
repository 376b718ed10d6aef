// SPDX-License-Identifier: Apache-2.0
export { type Config, parseConfig } from './config.js';
export { Controller } from './controller/controller.js';
export { NEXLINK_ERROR_CODES, NexlinkError, type NexlinkErrorCode } from './errors.js';
export { exportMetadata, exportObjects, ingressRules } from './export/desired.js';
export { type ExportSpec, type ExportVerdict, exportVerdict } from './export/spec.js';
export {
  desiredImports,
  egressRules,
  type ImportSpec,
  importObjects,
  importService,
} from './import/desired.js';
export * from './labels.js';
export { type NexlinkMetadata, parseMetadata } from './metadata.js';
export { type ProxySettings, workloadObjects } from './proxy/workload.js';
export { WorkQueue } from './queue.js';
