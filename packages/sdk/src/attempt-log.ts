import type { AttemptLogLine, AttemptLogReport, LogLevel } from "./types.js";

/** Lines kept per attempt (the newest), as Nexus keeps them for its own workers; older ones are counted. */
export const MAX_LINES = 200;
/** Bytes kept per attempt, lines and their data together. */
export const MAX_BYTES = 64 * 1024;
const MAX_MESSAGE = 2000;
/**
 * Longest data sent: longer fields are not sent clipped (clipped JSON could not be redacted field by field on
 * receipt), only their size.
 */
const MAX_DATA = 8000;

/** What a handler logs with: each line is kept with the attempt and sent with its outcome. */
export interface TaskLogger {
  debug(message: string, fields?: unknown): void;
  info(message: string, fields?: unknown): void;
  warn(message: string, fields?: unknown): void;
  error(message: string, fields?: unknown): void;
}

/** Where a worker's lines are also written as they happen (e.g. `console`); by default nowhere. */
export type LogSink = Partial<Record<LogLevel, (message: string, ...fields: unknown[]) => void>>;

/** Errors as their name and message (JSON.stringify would write `{}`). */
const errorsShown = (_key: string, value: unknown) =>
  value instanceof Error ? { name: value.name, message: value.message } : value;

function dataOf(fields: unknown): string | undefined {
  if (fields === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(fields, errorsShown);
  } catch (error) {
    text = JSON.stringify({ unserializable: (error as Error).message });
  }
  if (text === undefined) return undefined;
  return text.length > MAX_DATA ? JSON.stringify({ omitted: `${text.length} characters of fields` }) : text;
}

const sizeOf = (line: AttemptLogLine) =>
  line.at.length + line.level.length + line.message.length + (line.data?.length ?? 0) + 40;

/**
 * The lines of one attempt of a remote worker: the newest {@link MAX_LINES} within {@link MAX_BYTES}. Nexus redacts
 * secrets from them (and bounds them again) when it receives them.
 */
export class AttemptLog {
  private readonly lines: AttemptLogLine[] = [];
  private bytes = 0;
  private dropped = 0;
  readonly logger: TaskLogger;

  constructor(private readonly sink: LogSink = {}) {
    const at = (level: LogLevel) => (message: string, fields?: unknown) => this.write(level, message, fields);
    this.logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  }

  write(level: LogLevel, message: string, fields?: unknown): void {
    const text = String(message);
    const data = dataOf(fields);
    const line: AttemptLogLine = {
      at: new Date().toISOString(),
      level,
      message: text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text,
      ...(data === undefined ? {} : { data }),
    };
    this.lines.push(line);
    this.bytes += sizeOf(line);
    // The oldest lines beyond the bounds go, in one cut.
    let cut = 0;
    while (cut < this.lines.length && (this.lines.length - cut > MAX_LINES || this.bytes > MAX_BYTES)) {
      this.bytes -= sizeOf(this.lines[cut] as AttemptLogLine);
      cut++;
    }
    if (cut > 0) {
      this.lines.splice(0, cut);
      this.dropped += cut;
    }
    try {
      this.sink[level]?.(message, ...(fields === undefined ? [] : [fields]));
    } catch {
      // A sink that throws does not fail the attempt.
    }
  }

  report(): AttemptLogReport {
    return { lines: [...this.lines], dropped: this.dropped };
  }
}
