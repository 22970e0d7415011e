import * as z from "zod";
import { AsyncSlot } from "./async-slot.js";
import type { Context } from "./context.js";
import { pure } from "./pure.js";
import type { Task, TaskEvent } from "./schemas.js";
import * as Store from "./storage/logs.js";

/**
 * What an attempt logged: every line the agent's handlers and the worker write through the agent's logger while
 * the attempt runs is also kept with the task (`GET /v1/tasks/{id}/logs`), bounded per attempt and redacted.
 * Capture sits where the handlers receive their logger ({@link capturing}), so it works with whatever logger the
 * agent is given; an attempt's lines are told apart by the async context the attempt runs in.
 */

/** Lines kept per attempt (the newest); older ones are counted in `dropped`. */
export const MAX_LINES = 200;
/** Bytes kept per attempt, lines and their data together. */
export const MAX_BYTES = 64 * 1024;
const MAX_MESSAGE = 2000;
const MAX_DATA = 2000;

export const LogLine = /* @__PURE__ */ pure(() =>
  z
    .object({
      at: z.string(),
      level: z.string(),
      message: z.string(),
      data: z.string().optional().describe("The line's fields as JSON (redacted, truncated)"),
    })
    .meta({ id: "LogLine" }),
);

export const AttemptLog = /* @__PURE__ */ pure(() =>
  z
    .object({
      attempt: z.number().int(),
      startedAt: z.string(),
      endedAt: z.string(),
      lines: z.array(LogLine),
      dropped: z.number().int().describe("Older lines left out to keep the attempt within 200 lines and 64 KB"),
    })
    .meta({ id: "AttemptLog" }),
);

export const TaskLogs = /* @__PURE__ */ pure(() =>
  z.object({ taskId: z.string(), attempts: z.array(AttemptLog) }).meta({ id: "TaskLogs" }),
);
export type TaskLogs = z.output<typeof TaskLogs>;

const SECRET_NAME = /pass(word)?|secret|token|authorization|api[-_]?key|credential|private[-_]?key|cookie|signature/i;
const SECRET_TEXT = [
  /nxk_[0-9a-z]{12}_[A-Za-z0-9_-]{43}/g, // Nexus API keys
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key ids
  /(https?:\/\/[^\s/:@]+:)[^\s/@]+@/gi, // credentials in URLs
  /\bhttps:\/\/hooks\.slack\.com\/\S+/gi, // webhook URLs are secrets
];

/** A text with anything that looks like a secret replaced by `[redacted]`. */
export function redactText(text: string): string {
  let out = text;
  for (const pattern of SECRET_TEXT) {
    out = out.replace(pattern, (match, prefix: unknown) =>
      typeof prefix === "string" && match.startsWith(prefix) && prefix.endsWith(":")
        ? `${prefix}[redacted]@`
        : "[redacted]",
    );
  }
  return out;
}

/** A value with the fields named like secrets replaced and its texts redacted (cycles and depth bounded). */
export function redact(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === "string") return redactText(value);
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value) || depth > 6) return "[…]";
  seen.add(value);
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => redact(item, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value).slice(0, 50)) {
    out[name] = SECRET_NAME.test(name) ? "[redacted]" : redact(field, depth + 1, seen);
  }
  return out;
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** The lines of one attempt as it runs: the newest {@link MAX_LINES} within {@link MAX_BYTES}. */
export class AttemptLogBuffer {
  readonly startedAt: string;
  private readonly lines: Store.LogLine[] = [];
  private bytes = 0;
  private dropped = 0;
  /** Lines added so far, kept or dropped. */
  written = 0;

  constructor(
    readonly attempt: number,
    private readonly now: () => Date,
    startedAt?: string,
  ) {
    this.startedAt = startedAt ?? now().toISOString();
  }

  add(level: string, args: unknown[]): void {
    const [first, ...rest] = args;
    const message =
      typeof first === "string"
        ? first
        : first instanceof Error
          ? first.message
          : (JSON.stringify(redact(first)) ?? "");
    const extra = rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : rest;
    const data = extra === undefined ? undefined : JSON.stringify(redact(extra));
    this.push({ at: this.now().toISOString(), level, message, ...(data === undefined ? {} : { data }) });
  }

  /**
   * Adds a line written elsewhere (a remote worker's): its message redacted, its data (JSON text) redacted field by
   * field, both clipped, and the bounds kept as for a line logged here. `droppedBefore` counts lines the sender left
   * out.
   */
  received(lines: readonly Store.LogLine[], droppedBefore = 0): this {
    this.dropped += droppedBefore;
    for (const line of lines) {
      this.push({
        at: line.at,
        level: line.level,
        message: line.message,
        ...(line.data === undefined ? {} : { data: redactJsonText(line.data) }),
      });
    }
    return this;
  }

  /** Keeps a line (its message and data clipped), dropping the oldest beyond the bounds. */
  private push(raw: Store.LogLine): void {
    this.written++;
    const line: Store.LogLine = {
      at: raw.at,
      level: raw.level,
      message: clip(redactText(raw.message), MAX_MESSAGE),
      ...(raw.data === undefined ? {} : { data: clip(raw.data, MAX_DATA) }),
    };
    this.lines.push(line);
    this.bytes += sizeOf(line);
    while (this.lines.length > MAX_LINES || this.bytes > MAX_BYTES) {
      const oldest = this.lines.shift();
      if (!oldest) break;
      this.bytes -= sizeOf(oldest);
      this.dropped++;
    }
  }

  record(): Store.AttemptLogRecord {
    return {
      attempt: this.attempt,
      startedAt: this.startedAt,
      endedAt: this.now().toISOString(),
      lines: [...this.lines],
      dropped: this.dropped,
    };
  }
}

/** JSON text with its fields redacted as a logged value's are; text that is not JSON is redacted as text. */
function redactJsonText(text: string): string {
  try {
    return JSON.stringify(redact(JSON.parse(text))) ?? "";
  } catch {
    return redactText(text);
  }
}

const sizeOf = (line: Store.LogLine) =>
  line.at.length + line.level.length + line.message.length + (line.data?.length ?? 0) + 40;

const current = new AsyncSlot<AttemptLogBuffer>();

/** Runs `work` with `buffer` collecting what {@link capturing} loggers write meanwhile (in this async context). */
export const collecting = <T>(buffer: AttemptLogBuffer, work: () => Promise<T>): Promise<T> =>
  current.run(buffer, work);

const LEVELS = new Set(["trace", "debug", "info", "warn", "error", "critical"]);

/**
 * The same logger, its lines also kept with the attempt running in the caller's async context (if any). Works with
 * any logger whose level methods take `(message, ...fields)`, as log.ts's and the console's do.
 */
export function capturing<L extends object>(logger: L): L {
  if (capturingLoggers.has(logger)) return logger;
  const proxy = new Proxy(logger, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (typeof property !== "string" || !LEVELS.has(property)) return value.bind(target);
      return (...args: unknown[]) => {
        current.getStore()?.add(property, args);
        return value.apply(target, args);
      };
    },
  });
  capturingLoggers.add(proxy);
  return proxy;
}
const capturingLoggers = new WeakSet<object>();

/**
 * What a remote worker reports it logged during an attempt (with its complete or fail report): at most the newest
 * {@link MAX_LINES} lines, as the in-process capture keeps them. The server redacts and bounds them again on receipt.
 */
export const RemoteAttemptLog = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      lines: z
        .array(
          z.strictObject({
            at: z.iso.datetime({ offset: true }).describe("When the line was written (ISO 8601)"),
            level: z.enum(["trace", "debug", "info", "warn", "error", "critical"]),
            message: z.string().max(4 * MAX_MESSAGE),
            data: z
              .string()
              .max(4 * MAX_DATA)
              .optional()
              .describe("The line's fields as JSON text"),
          }),
        )
        .max(MAX_LINES),
      dropped: z
        .number()
        .int()
        .min(0)
        .max(1_000_000_000)
        .default(0)
        .describe("Older lines the worker left out to stay within 200 lines and 64 KB"),
    })
    .describe(
      "What the handler logged during this attempt, kept as the attempt's logs (GET /v1/tasks/{id}/logs): at most 200 lines; redacted and bounded to 64 KB again on receipt",
    )
    .meta({ id: "RemoteAttemptLog" }),
);
export type RemoteAttemptLog = z.output<typeof RemoteAttemptLog>;

/** Stores the lines a remote worker reported for an attempt (redacted and bounded here again). */
export const saveReceived = (
  ctx: Context,
  attempt: { taskId: string; attempt: number; startedAt: string | undefined },
  log: RemoteAttemptLog,
) => {
  const started = attempt.startedAt ?? log.lines[0]?.at;
  const buffer = new AttemptLogBuffer(attempt.attempt, ctx.now, started).received(log.lines, log.dropped);
  return save(ctx, attempt.taskId, buffer);
};

/** Stores an attempt's lines with its task. */
export const save = (ctx: Context, taskId: string, buffer: AttemptLogBuffer) => Store.put(ctx, taskId, buffer.record());

/** What {@link of} reads of a task to tell the attempts it has no stored lines for. */
export type LoggedTask = Pick<Task, "id" | "action" | "maxAttempts" | "events">;

/**
 * Every attempt's lines of a task, first attempt first. An attempt that succeeded without its action logging
 * anything has no stored lines (the worker does not write an item for them): its start and end lines are told from
 * the task's events, as the worker logs them. So is an attempt still running, or one whose lines were lost.
 */
export async function of(ctx: Context, task: LoggedTask): Promise<TaskLogs> {
  const stored = await Store.list(ctx, task.id);
  const have = new Set(stored.map((log) => log.attempt));
  const told = task.events
    .filter((event) => event.type === "started" && event.attempt !== undefined && !have.has(event.attempt))
    .map((started) => toldAttempt(task, started));
  return { taskId: task.id, attempts: [...stored, ...told].sort((a, b) => a.attempt - b.attempt) };
}

/** Ends an attempt's events may show, after its start. */
const ENDS = new Set<TaskEvent["type"]>(["succeeded", "attempt_failed", "failed", "cancelled", "requeued"]);

function toldAttempt(task: LoggedTask, started: TaskEvent): Store.AttemptLogRecord {
  const attempt = started.attempt ?? 0;
  const lines: Store.LogLine[] = [
    { at: started.at, level: "debug", message: startLine(attempt, task.maxAttempts, task.action) },
  ];
  const end = task.events.find((event) => event.attempt === attempt && ENDS.has(event.type) && event.at >= started.at);
  if (end?.type === "succeeded") {
    const ms = Math.max(0, Date.parse(end.at) - Date.parse(started.at));
    lines.push({ at: end.at, level: "debug", message: successLine(attempt, ms) });
  } else if (end) {
    const why = end.error ? `${end.error.code}: ${end.error.message}` : (end.message ?? end.type);
    lines.push({
      at: end.at,
      level: end.type === "requeued" ? "info" : "warn",
      message: `attempt ${attempt} ${end.type}: ${why}`,
    });
  }
  return { attempt, startedAt: started.at, endedAt: end?.at ?? started.at, lines, dropped: 0 };
}

/** The worker's line at the start of an attempt. */
export const startLine = (attempt: number, maxAttempts: number, action: string) =>
  `attempt ${attempt} of ${maxAttempts} started: ${action}`;

/** The worker's line at the end of an attempt that succeeded. */
export const successLine = (attempt: number, ms: number) => `attempt ${attempt} succeeded in ${ms} ms`;
