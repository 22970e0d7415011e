import { Cron } from "croner";

/**
 * Schedule expressions in EventBridge Scheduler's syntax, and when they next run.
 *
 * - `cron(minutes hours day-of-month month day-of-week year)`: six fields; exactly one of day-of-month and
 *   day-of-week is `?`; day-of-week counts 1 = SUN … 7 = SAT; `L`, `W` (day-of-month) and `L`, `#` (day-of-week)
 *   as EventBridge reads them. Evaluated in the schedule's IANA time zone by croner (7-part, Quartz weekdays).
 * - `rate(value unit)`: minute(s), hour(s) or day(s); at least one minute. Runs every interval from an anchor.
 *
 * Daylight saving time follows EventBridge Scheduler: a local time that does not exist (clocks go forward) is
 * skipped, and a local time that occurs twice (clocks go back) runs once, at its first occurrence.
 */
export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExpressionError";
  }
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"] as const;
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] as const;

const FIELDS: readonly FieldSpec[] = [
  { name: "minutes", min: 0, max: 59 },
  { name: "hours", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS },
  { name: "day-of-week", min: 1, max: 7, names: DAYS },
  { name: "year", min: 1970, max: 2199 },
];
const [MINUTES, HOURS, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR] = FIELDS as [
  FieldSpec,
  FieldSpec,
  FieldSpec,
  FieldSpec,
  FieldSpec,
  FieldSpec,
];

/** A number of the field, or one of its names (JAN, MON…), as a number. */
function value(field: FieldSpec, text: string): number {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1;
  const n = named >= 0 ? named + field.min : /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n)) throw new ExpressionError(`${field.name}: '${text}' is not a number or a name`);
  if (n < field.min || n > field.max) {
    throw new ExpressionError(`${field.name}: ${n} is out of range ${field.min}-${field.max}`);
  }
  return n;
}

/** One comma-separated item: `*`, `n`, `a-b`, each optionally `/step`; croner's form of it. */
function item(field: FieldSpec, text: string): string {
  const [base = "", step, extra] = text.split("/");
  if (extra !== undefined || base === "") throw new ExpressionError(`${field.name}: '${text}' is not valid`);
  let out: string;
  if (base === "*") out = "*";
  else if (base.includes("-")) {
    const [from = "", to = "", more] = base.split("-");
    if (more !== undefined) throw new ExpressionError(`${field.name}: '${text}' is not a valid range`);
    const a = value(field, from);
    const b = value(field, to);
    if (a > b) throw new ExpressionError(`${field.name}: range '${base}' runs backwards`);
    out = `${a}-${b}`;
  } else {
    out = String(value(field, base));
    // `a/n`: from a to the end of the field's range, every n.
    if (step !== undefined) out = `${out}-${field.max}`;
  }
  if (step === undefined) return out;
  if (!/^\d{1,4}$/.test(step) || Number(step) < 1 || Number(step) > field.max - field.min + 1) {
    throw new ExpressionError(`${field.name}: step '/${step}' must be 1-${field.max - field.min + 1}`);
  }
  return `${out}/${Number(step)}`;
}

function list(field: FieldSpec, text: string): string {
  if (text.includes("?"))
    throw new ExpressionError(`${field.name}: '?' is allowed in day-of-month or day-of-week only`);
  return text
    .split(",")
    .map((part) => item(field, part))
    .join(",");
}

function dayOfMonth(text: string): string {
  const upper = text.toUpperCase();
  if (upper === "?") return "*";
  if (upper === "L" || upper === "LW") return upper;
  const weekday = /^(\d{1,2})W$/.exec(upper);
  if (weekday) return `${value(DAY_OF_MONTH, weekday[1] ?? "")}W`;
  if (/[LW#]/.test(upper)) throw new ExpressionError(`day-of-month: '${text}' is not valid (L, LW and nW stand alone)`);
  return list(DAY_OF_MONTH, text);
}

function dayOfWeek(text: string): string {
  const upper = text.toUpperCase();
  if (upper === "?") return "*";
  // `L` alone is the last day of the week: Saturday.
  if (upper === "L") return "7";
  const last = /^([A-Z]{3}|\d)L$/.exec(upper);
  if (last) return `${value(DAY_OF_WEEK, last[1] ?? "")}L`;
  const nth = /^([A-Z]{3}|\d)#(\d)$/.exec(upper);
  if (nth) {
    const n = Number(nth[2]);
    if (n < 1 || n > 5) throw new ExpressionError(`day-of-week: '${text}': the # occurrence must be 1-5`);
    return `${value(DAY_OF_WEEK, nth[1] ?? "")}#${n}`;
  }
  if (/[L#]/.test(upper)) throw new ExpressionError(`day-of-week: '${text}' is not valid (nL and n#k stand alone)`);
  return list(DAY_OF_WEEK, text);
}

export interface CronSpec {
  /** As stored and sent to EventBridge Scheduler: `cron(<six fields>)`. */
  expression: string;
  /** The same schedule as a croner 7-part pattern (seconds first, Quartz weekdays). */
  pattern: string;
}

/** Parses `cron(...)` (or the six fields alone); throws an {@link ExpressionError} naming what is wrong. */
export function parseCron(text: string): CronSpec {
  const trimmed = text.trim();
  const inner = /^cron\((.*)\)$/is.exec(trimmed)?.[1] ?? trimmed;
  const fields = inner.trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new ExpressionError(
      `must have 6 fields, cron(minutes hours day-of-month month day-of-week year), got ${fields.length}`,
    );
  }
  const [min = "", hour = "", dom = "", month = "", dow = "", year = ""] = fields;
  const domUnset = dom === "?";
  const dowUnset = dow === "?";
  if (domUnset === dowUnset) {
    throw new ExpressionError(
      domUnset
        ? "day-of-month and day-of-week cannot both be '?': set one of them"
        : "day-of-month and day-of-week cannot both be set: use '?' in one of them, e.g. cron(0 9 * * ? *)",
    );
  }
  const pattern = [
    "0",
    list(MINUTES, min),
    list(HOURS, hour),
    dayOfMonth(dom),
    list(MONTH, month),
    dayOfWeek(dow),
    list(YEAR, year),
  ].join(" ");
  try {
    croner(pattern, "UTC");
  } catch (error) {
    throw new ExpressionError(`is not valid: ${(error as Error).message}`);
  }
  return { expression: `cron(${fields.join(" ")})`, pattern };
}

const UNITS = { minute: 60, hour: 3600, day: 86_400 } as const;

export interface RateSpec {
  expression: string;
  seconds: number;
}

/** Parses `rate(value unit)` (or `value unit`): at least one minute. */
export function parseRate(text: string): RateSpec {
  const trimmed = text.trim();
  const inner = (/^rate\((.*)\)$/is.exec(trimmed)?.[1] ?? trimmed).trim();
  const match = /^(\d{1,9})\s+([a-z]+)$/i.exec(inner);
  if (!match) throw new ExpressionError("must be rate(value unit), e.g. rate(5 minutes)");
  const n = Number(match[1]);
  const unit = (match[2] ?? "").toLowerCase();
  if (/^(second|seconds|millisecond|milliseconds)$/.test(unit)) {
    throw new ExpressionError("the shortest rate is 1 minute: use minutes, hours or days");
  }
  const singular = unit.replace(/s$/, "") as keyof typeof UNITS;
  if (!(singular in UNITS)) throw new ExpressionError(`unit '${unit}' is not minutes, hours or days`);
  if (n < 1) throw new ExpressionError("the shortest rate is 1 minute");
  if ((n === 1) !== (unit === singular)) {
    throw new ExpressionError(`write rate(${n} ${n === 1 ? singular : `${singular}s`})`);
  }
  return { expression: `rate(${n} ${unit})`, seconds: n * UNITS[singular] };
}

/** Whether `zone` is an IANA time zone name this runtime knows (UTC, Europe/Berlin, America/New_York…). */
export function isTimeZone(zone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function croner(pattern: string, timezone: string) {
  return new Cron(pattern, { timezone, mode: "7-part", alternativeWeekdays: true, domAndDow: true, paused: true });
}

const formats = new Map<string, Intl.DateTimeFormat>();
/** The wall-clock time (to the minute) of an instant in a zone, and the zone's offset then, in minutes. */
function local(at: number, timezone: string): { wall: string; offset: number } {
  let format = formats.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
    formats.set(timezone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(new Date(at)).map((p) => [p.type, Number(p.value)]));
  const asUtc = Date.UTC(parts.year ?? 0, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0);
  const minute = Math.floor(at / 60_000) * 60_000;
  return { wall: String(asUtc), offset: (asUtc - minute) / 60_000 };
}

/** A local time seen for the second time as clocks go back: EventBridge Scheduler runs only the first. */
function isRepeatedLocalTime(at: number, timezone: string): boolean {
  const shift = local(at - 6 * 3_600_000, timezone).offset - local(at, timezone).offset;
  if (shift <= 0) return false;
  return local(at - shift * 60_000, timezone).wall === local(at, timezone).wall;
}

export interface Recurrence {
  cron?: string | null;
  rate?: string | null;
  timezone: string;
  /** Rate schedules run every interval from here (the time the rate was set, or the latest run). */
  anchor?: Date | string | null;
}

/** The first run strictly after `after`, or null when the expression has none left. */
export function nextRun(recurrence: Recurrence, after: Date): Date | null {
  if (recurrence.rate) {
    const { seconds } = parseRate(recurrence.rate);
    const period = seconds * 1000;
    const anchor = recurrence.anchor ? new Date(recurrence.anchor).getTime() : after.getTime();
    const periods = after.getTime() < anchor ? 1 : Math.floor((after.getTime() - anchor) / period) + 1;
    return new Date(anchor + periods * period);
  }
  if (!recurrence.cron) throw new ExpressionError("a schedule needs a cron or a rate expression");
  const job = croner(parseCron(recurrence.cron).pattern, recurrence.timezone);
  let from = after;
  for (let i = 0; i < 1000; i++) {
    const next = job.nextRun(from);
    if (!next) return null;
    // croner moves a fixed time that falls in a DST gap to after the gap (no match then), and may run both
    // occurrences of a repeated time: EventBridge Scheduler does neither.
    if (job.match(next) && !isRepeatedLocalTime(next.getTime(), recurrence.timezone)) return next;
    from = next;
  }
  return null;
}

/** The runs from `from` to `to` (both included), at most `cap` of them. */
export function runsBetween(recurrence: Recurrence, from: Date, to: Date, cap = 10_000): Date[] {
  const runs: Date[] = [];
  let next = nextRun(recurrence, new Date(from.getTime() - 1));
  while (next && next.getTime() <= to.getTime() && runs.length < cap) {
    runs.push(next);
    next = nextRun(recurrence, next);
  }
  return runs;
}
