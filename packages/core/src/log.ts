/**
 * Nexus's one logger ({@link Logger}): one JSON object per line, in every Lambda function and in the local runtime
 * alike, that
 *
 * - adds the ids of what is being done: `requestId`, `taskId`, `planId`, `agentId`, `attempt` and `attemptId`, from
 *   the log context of the code that logs ({@link withLogContext}: the API per request, the worker per attempt, the
 *   plan runner per operation), so every record of a task's story can be found by its id in any function's log;
 * - redacts secrets from every record (redact.ts), whatever code logged it;
 * - hands each record to the tees of its log context (e.g. the worker capturing what one attempt logged).
 */

import type { Context as LambdaContext } from "aws-lambda";
import { AsyncSlot } from "./async-slot.js";
import { redact } from "./redact.js";
import { lambdaTraceHeader } from "./trace.js";

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

const storage = new AsyncSlot<LogContext>();

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

/** Levels by name, as Powertools Logger numbers them: a record is written at or above its logger's level. */
const LEVELS = { TRACE: 6, DEBUG: 8, INFO: 12, WARN: 16, ERROR: 20, CRITICAL: 24, SILENT: 28 } as const;
type Level = keyof typeof LEVELS;

/** Level names: in either case as an option, in upper case in `LOG_LEVEL` / `POWERTOOLS_LOG_LEVEL`. */
export type LevelName = Level | Lowercase<Level>;

const isLevel = (name: string | undefined): name is Level => name !== undefined && Object.hasOwn(LEVELS, name);
const env = (name: string) => process.env[name]?.trim() ?? "";

/** What a record carries of the invocation once `addContext` was called (Lambda's context). */
interface InvocationFields {
  coldStart: boolean;
  functionName: string;
  awsRequestId: string;
}

/** Keys of a record's own that its fields may not set (a field named so is dropped, with a warning). */
const RESERVED = new Set(["level", "message", "sampling_rate", "service", "timestamp"]);

export interface LoggerOptions {
  serviceName?: string;
  level?: LevelName;
  /** Fields on every record of this logger and its children. */
  keys?: LogKeys;
}

/**
 * A logger writing one JSON object per line, the records Powertools Logger wrote with this module's formatter (and its
 * level settings), in about 4 KB minified instead of 22: `level`, `message`, `timestamp`, `service`, the invocation's
 * `cold_start`, `function_name`, `function_request_id` (after {@link Logger.addContext}) and `xray_trace_id`, then the
 * log context's ids ({@link withLogContext}), the logger's keys and the record's own fields, secrets redacted. TRACE,
 * DEBUG and INFO go to stdout, WARN, ERROR and CRITICAL to stderr, as Powertools' console wrote them; both are the
 * function's log in Lambda. Children share their parent's level, keys and invocation and cost no more than an object.
 */
export class Logger {
  readonly #service: string;
  #keys: LogKeys = {};
  #threshold: number = LEVELS.INFO;
  #invocation: InvocationFields | undefined;
  /**
   * Whether the next `addContext` is this process's first invocation (in Lambda's on-demand initialization only). A
   * child carries its parent's invocation as it is, cold start included.
   */
  #coldStart: boolean;

  constructor(options: LoggerOptions = {}, parent?: Logger) {
    const from = parent
      ? { service: parent.#service, invocation: parent.#invocation, keys: parent.#keys, threshold: parent.#threshold }
      : undefined;
    this.#service = options.serviceName || from?.service || env("POWERTOOLS_SERVICE_NAME") || "service_undefined";
    this.#coldStart = !from && env("AWS_LAMBDA_INITIALIZATION_TYPE") === "on-demand";
    this.#invocation = from?.invocation;
    this.#keys = { ...from?.keys, ...this.#accepted(options.keys ?? {}) };
    this.#threshold = from && !options.level ? from.threshold : this.#initialThreshold(options.level);
  }

  /**
   * The level: Lambda's application log level (`AWS_LAMBDA_LOG_LEVEL`, set with the JSON log format) above all, then
   * the option, then `POWERTOOLS_LOG_LEVEL`, then `LOG_LEVEL`, else INFO. Names in the environment are upper case.
   */
  #initialThreshold(option: LevelName | undefined): number {
    const lambdaLevel = env("AWS_LAMBDA_LOG_LEVEL");
    const platform = lambdaLevel === "FATAL" ? "CRITICAL" : lambdaLevel;
    const chosen = option?.toUpperCase();
    if (isLevel(platform)) {
      this.#threshold = LEVELS[platform];
      if (isLevel(chosen) && LEVELS[platform] > LEVELS[chosen]) {
        this.warn(
          `Current log level (${chosen}) does not match AWS Lambda Advanced Logging Controls minimum log level (${platform}). This can lead to data loss, consider adjusting them.`,
        );
      }
      return LEVELS[platform];
    }
    if (isLevel(chosen)) return LEVELS[chosen];
    const named = env("POWERTOOLS_LOG_LEVEL") || env("LOG_LEVEL");
    return isLevel(named) ? LEVELS[named] : LEVELS.INFO;
  }

  /** A logger with this one's level, keys and invocation; `serviceName`, `level` and `keys` given replace (add to) them. */
  createChild(options: LoggerOptions = {}): Logger {
    return new Logger(options, this);
  }

  /** The invocation's context on every record from now on (and on children made from now on). */
  addContext(context: Pick<LambdaContext, "functionName" | "awsRequestId">): void {
    const coldStart = this.#coldStart;
    this.#coldStart = false;
    this.#invocation = { coldStart, functionName: context.functionName, awsRequestId: context.awsRequestId };
  }

  trace(input: LogInput, ...fields: unknown[]): void {
    this.#log("TRACE", input, fields);
  }
  debug(input: LogInput, ...fields: unknown[]): void {
    this.#log("DEBUG", input, fields);
  }
  info(input: LogInput, ...fields: unknown[]): void {
    this.#log("INFO", input, fields);
  }
  warn(input: LogInput, ...fields: unknown[]): void {
    this.#log("WARN", input, fields);
  }
  error(input: LogInput, ...fields: unknown[]): void {
    this.#log("ERROR", input, fields);
  }
  critical(input: LogInput, ...fields: unknown[]): void {
    this.#log("CRITICAL", input, fields);
  }

  /** The fields whose names are not reserved, a warning written for each that is. */
  #accepted(fields: object, into: Record<string, unknown> = {}): Record<string, unknown> {
    for (const [key, value] of Object.entries(fields)) {
      if (RESERVED.has(key)) this.warn(`The key "${key}" is a reserved key and will be dropped.`);
      else into[key] = value;
    }
    return into;
  }

  #log(level: Level, input: LogInput, fields: unknown[]): void {
    if (LEVELS[level] < this.#threshold) return;
    const base: Record<string, unknown> = { level, message: undefined };
    const own: Record<string, unknown> = { ...this.#keys };
    if (typeof input === "string") base.message = input;
    else {
      const { message, ...rest } = input;
      base.message = message;
      this.#accepted(rest, own);
    }
    for (const field of fields) {
      if (field === null || field === undefined) continue;
      if (field instanceof Error) own.error = field;
      else if (typeof field === "string") own.extra = field;
      else this.#accepted(field, own);
    }
    const invocation = this.#invocation;
    const traceId = xrayTraceId();
    base.timestamp = timestamp(new Date());
    base.service = this.#service;
    if (invocation) {
      base.cold_start = invocation.coldStart;
      base.function_name = invocation.functionName;
      base.function_request_id = invocation.awsRequestId;
    }
    if (traceId) base.xray_trace_id = traceId;
    write(level, record({ ...base, ...storage.getStore()?.keys, ...own }));
  }
}

/** A record's message: a text, or an object with `message` whose other keys are fields. */
export type LogInput = string | { message?: unknown; [key: string]: unknown };

/** The record redacted, handed to the log context's tees. */
function record(fields: LogRecord): LogRecord {
  const redacted = redact(fields) as LogRecord;
  const tees = storage.getStore()?.tees;
  if (tees?.length) {
    for (const tee of tees) {
      try {
        tee(redacted);
      } catch {
        // a capture that fails must not take the log line (or the attempt) with it
      }
    }
  }
  return redacted;
}

/** One line: the record without its empty top-level fields, TRACE to INFO on stdout, WARN and above on stderr. */
function write(level: Level, fields: LogRecord): void {
  const kept: LogRecord = {};
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined && value !== null && value !== "") kept[key] = value;
  }
  const line = `${JSON.stringify(kept, jsonReplacer())}\n`;
  try {
    (LEVELS[level] >= LEVELS.WARN ? process.stderr : process.stdout).write(line);
  } catch {
    // a closed stream loses the line, never the work that logged it
  }
}

/** As Powertools serialized values: bigints as text, errors (those beyond redaction's depth) formatted, cycles cut. */
function jsonReplacer() {
  const ancestors: unknown[] = [];
  return function replace(this: unknown, _key: string, value: unknown) {
    const replaced = value instanceof Error ? formatError(value) : value;
    if (typeof replaced === "bigint") return replaced.toString();
    if (typeof replaced === "object" && replaced !== null) {
      while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
      if (ancestors.includes(replaced)) return undefined;
      ancestors.push(replaced);
    }
    return replaced;
  };
}

function formatError(error: Error): Record<string, unknown> {
  const { name, message, stack, cause, ...rest } = error as Error & Record<string, unknown>;
  const location = /\(([^()]*?):(\d+?):(\d+?)\)\\?$/m.exec(stack ?? "");
  return {
    name,
    location: location ? `${location[1]}:${Number(location[2])}` : "",
    message,
    stack,
    cause: cause instanceof Error ? formatError(cause) : cause,
    ...rest,
  };
}

/** The invocation's X-Ray trace id (`Root` of Lambda's trace header). */
function xrayTraceId(): string | undefined {
  const header = lambdaTraceHeader()?.trim();
  if (!header) return undefined;
  if (!header.includes("=")) return header;
  for (const field of header.split(";")) {
    const [key, value] = field.split("=");
    if (key === "Root") return value;
  }
  return undefined;
}

/** ISO 8601 in UTC, or with the offset of the time zone `TZ` names where that is not UTC (Powertools' format). */
function timestamp(now: Date): string {
  const zone = env("TZ");
  if (!zone || zone.includes("UTC")) return now.toISOString();
  let resolved = "UTC";
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    resolved = zone;
  } catch {
    // an unknown zone: UTC, with offset +00:00
  }
  const two = "2-digit" as const;
  const parts: Record<string, string> = {};
  const format = {
    hourCycle: "h23",
    year: "numeric",
    month: two,
    day: two,
    hour: two,
    minute: two,
    second: two,
  } as const;
  for (const part of new Intl.DateTimeFormat("en", { ...format, timeZone: resolved }).formatToParts(now)) {
    parts[part.type] = part.value;
  }
  const offset = resolved === zone ? -now.getTimezoneOffset() : 0;
  const pad = (n: number) => Math.abs(Math.trunc(n)).toString().padStart(2, "0");
  const ms = now.getMilliseconds().toString().padStart(3, "0");
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}.${ms}${offset >= 0 ? "+" : "-"}${pad(offset / 60)}:${pad(offset % 60)}`;
}

/**
 * The logger of one service (`nexus-api`, `nexus-agent-diag`, …): JSON lines, level from the option, else
 * `POWERTOOLS_LOG_LEVEL` / `LOG_LEVEL`, else INFO (Lambda's `AWS_LAMBDA_LOG_LEVEL` above all). Children
 * (`logger.createChild()`) share its level, keys and invocation.
 */
export function createLogger(serviceName: string, options: { level?: LevelName; keys?: LogKeys } = {}): Logger {
  return new Logger({ serviceName, ...options });
}
