/*
 * Alarms, backups and schedules are imported from their own entry points (`@nexus/core/alarms`, `/backup`,
 * `/schedules`), never re-exported here: the API loads them on first use, and a namespace re-exported by this index
 * puts its module in the chunk every function loads at cold start (esbuild assigns it to the index's chunk).
 */
export type { AgentSpec } from "./agents.js";
export * as Agents from "./agents.js";
export * as Audit from "./audit.js";
export { createClients } from "./clients.js";
export { type Consumers, lambdaConsumers } from "./consumers.js";
export * from "./context.js";
export * from "./cost.js";
export * from "./errors.js";
export * as Events from "./events.js";
export * as Failures from "./failures.js";
export * as Health from "./health/index.js";
export { newId } from "./ids.js";
export { jsonDepth, MAX_JSON_DEPTH } from "./json-depth.js";
export * as Keys from "./keys.js";
export { type ClientSource, clientOf, onClientMade, once, withSdk } from "./lazy.js";
export * as Limits from "./limits.js";
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
export * as Payloads from "./payloads.js";
export * as Plans from "./plans/index.js";
export { PRICES } from "./prices.js";
export * as Queues from "./queues.js";
export { REDACTED, redact, redactText, rememberSecret, scrub } from "./redact.js";
export * as Remote from "./remote.js";
export * from "./schemas.js";
export { type Secrets, secretsManager } from "./secrets.js";
export { CorsOriginsSetting } from "./settings-env.js";
export { ensureTable, TableLayoutError, untilActive } from "./storage/setup.js";
export { createTableInput } from "./storage/table.js";
export * as Sweeper from "./sweeper.js";
export {
  type CheckedTarget,
  checkTarget,
  MAX_PARAMS_BYTES,
  type TargetIssue,
  type TargetIssueCode,
} from "./targets.js";
export * as TaskLogs from "./task-logs.js";
export * as Tasks from "./tasks.js";
export { propagateTrace } from "./trace.js";
export type {
  ActionContext,
  ActionHandler,
  AgentEnvironment,
  AgentImplementation,
  InvocationLimits,
} from "./worker.js";
export * as Worker from "./worker.js";
export { type ExecutionState, executionArnOf, stepFunctions, type Workflows } from "./workflows.js";
