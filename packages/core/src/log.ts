/**
 * Nexus's one logger: Powertools' Logger writing one JSON object per line, in every Lambda function and in the local
 * runtime alike, through one formatter that
 *
 * - adds the ids of what is being done: `requestId`, `taskId`, `planId`, `agentId`, `attempt` and `attemptId`, from
 *   the log context of the code that logs ({@link withLogContext}: the API per request, the worker per attempt, the
 *   plan runner per operation), so every record of a task's story can be found by its id in any function's log;
 * - redacts secrets from every record (redact.ts), whatever code logged it;
 * - hands each record to the tees of its log context (e.g. the worker capturing what one attempt logged).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { LogFormatter, Logger, LogItem } from "@aws-lambda-powertools/logger";
import type { LogAttributes, LogLevel, UnformattedAttributes } from "@aws-lambda-powertools/logger/types";
import { redact } from "./redact.js";

export type { Logger } from "@aws-lambda-powertools/logger";

/** The ids a record can carry; each is added where it is known. */
export interface LogKeys {
  requestId?: string;
  taskId?: string;
  planId?: string;
  agentId?: string;
  /** The attempt's number (1, 2, …). */
  attempt?: number;
  /** `<taskId>#<attempt>`: one attempt of one task, across redeliveries and functions. */
  attemptId?: string;
  [key: string]: unknown;
}

/** A log record as written: the JSON object of one line, secrets already redacted. */
export type LogRecord = Record<string, unknown>;
export type LogTee = (record: LogRecord) => void;

interface LogContext {
  keys: LogKeys;
  tees: LogTee[];
}

const storage = new AsyncLocalStorage<LogContext>();

/**
 * Runs `fn` with `keys` added to every record logged within it (by any logger of this module, at any depth of
 * await), on top of the keys of an enclosing context; `tee` gets each such record too.
 */
export function withLogContext<T>(keys: LogKeys, fn: () => T, options: { tee?: LogTee } = {}): T {
  const outer = storage.getStore();
  const defined = Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined && v !== null));
  const context: LogContext = {
    keys: { ...outer?.keys, ...defined },
    tees: options.tee ? [...(outer?.tees ?? []), options.tee] : (outer?.tees ?? []),
  };
  return storage.run(context, fn);
}

/** The keys of the current log context. */
export const logKeys = (): LogKeys => ({ ...storage.getStore()?.keys });

/** The ids of one attempt, as records carry them. */
export const attemptKeys = (task: { id: string; agentId: string; planId?: string | null }, attempt: number) => ({
  taskId: task.id,
  agentId: task.agentId,
  ...(task.planId ? { planId: task.planId } : {}),
  attempt,
  attemptId: `${task.id}#${attempt}`,
});

/** Powertools' JSON layout, plus the context's ids, with secrets redacted; each record also goes to the tees. */
class NexusLogFormatter extends LogFormatter {
  override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const lambda = attributes.lambdaContext;
    const base = {
      level: attributes.logLevel,
      message: attributes.message,
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      ...(lambda
        ? {
            cold_start: lambda.coldStart,
            function_name: lambda.functionName,
            function_request_id: lambda.awsRequestId,
          }
        : {}),
      ...(attributes.xRayTraceId ? { xray_trace_id: attributes.xRayTraceId } : {}),
    };
    const context = storage.getStore();
    const record = redact({ ...base, ...context?.keys, ...additional }) as LogRecord;
    if (context?.tees.length) {
      for (const tee of context.tees) {
        try {
          tee(record);
        } catch {
          // a capture that fails must not take the log line (or the attempt) with it
        }
      }
    }
    return new LogItem({ attributes: record as LogAttributes });
  }
}

/** Levels as `LOG_LEVEL` / `POWERTOOLS_LOG_LEVEL` name them. */
export type LevelName = Uppercase<LogLevel> | LogLevel;

/**
 * The logger of one service (`nexus-api`, `nexus-agent-diag`, …): JSON lines on stdout, level from the option, else
 * `POWERTOOLS_LOG_LEVEL` / `LOG_LEVEL`, else INFO. Children (`logger.createChild()`) share the formatter.
 */
export function createLogger(serviceName: string, options: { level?: LevelName; keys?: LogKeys } = {}): Logger {
  return new Logger({
    serviceName,
    logFormatter: new NexusLogFormatter(),
    ...(options.level ? { logLevel: options.level as LogLevel } : {}),
    ...(options.keys ? { persistentKeys: options.keys } : {}),
  });
}
