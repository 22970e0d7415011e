/*
 * The shared vocabulary every function needs (context, errors, schemas, storage setup, logging). The domain's modules
 * (tasks, agents, plans, keys, the remote protocol, ...) are imported from their own entry points (`@nexus/core/tasks`,
 * `/plans`, `/remote`, ...), never re-exported here as namespaces: esbuild assigns a module a namespace of this index
 * re-exports to the index's chunk, which every function loads at cold start, even where only a chunk loaded on first
 * use (the API's lazily registered routes) uses it.
 */
export type { AgentSpec } from "./agents.js";
export { createClients } from "./clients.js";
export { type Consumers, lambdaConsumers } from "./consumers.js";
export * from "./context.js";
export * from "./cost.js";
export * from "./errors.js";
export { newId } from "./ids.js";
export { jsonDepth, MAX_JSON_DEPTH } from "./json-depth.js";
export { type ClientSource, clientOf, onClientMade, once, withSdk } from "./lazy.js";
export {
  attemptKeys,
  createLogger,
  type LevelName,
  type Logger,
  type LogKeys,
  type LogRecord,
  type LogTee,
  logKeys,
  withLogContext,
} from "./log.js";
export {
  type CountMetric,
  type Dimensions,
  type DurationMetric,
  flushMetrics,
  METRICS,
  MemoryMetrics,
  type MetricName,
  type MetricPoint,
  type MetricQuery,
  type Metrics,
  type MetricsSink,
  metrics,
  metricsNamespace,
  statusClass,
  useMetricsSink,
} from "./metrics.js";
export { LocalMetrics } from "./metrics-local.js";
export { fileObjectStore, type ObjectStore, s3ObjectStore } from "./objects.js";
export {
  PARAMS_SCHEMA_KEYWORDS,
  type ParamsSchema,
  parseParams,
  validateParams,
} from "./params-schema.js";
export { PRICES } from "./prices.js";
export { REDACTED, redact, redactText, rememberSecret, scrub } from "./redact.js";
export * from "./schemas.js";
export { type Secrets, secretsManager } from "./secrets.js";
export { CorsOriginsSetting } from "./settings-env.js";
export { ensureTable, TableLayoutError, untilActive } from "./storage/setup.js";
export { createTableInput } from "./storage/table.js";
export {
  type CheckedTarget,
  checkTarget,
  MAX_PARAMS_BYTES,
  type TargetIssue,
  type TargetIssueCode,
} from "./targets.js";
export { propagateTrace } from "./trace.js";
export type {
  ActionContext,
  ActionHandler,
  AgentEnvironment,
  AgentImplementation,
  InvocationLimits,
} from "./worker.js";
export { type ExecutionState, executionArnOf, stepFunctions, type Workflows } from "./workflows.js";
