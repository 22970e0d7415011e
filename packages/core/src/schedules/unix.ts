import { ExpressionError, parseCron } from "./expression.js";

/**
 * Five-field Unix cron (`minute hour day-of-month month day-of-week`, as crontab(5) reads it), converted exactly to
 * EventBridge Scheduler's six-field `cron(...)`.
 *
 * - minutes, hours, day-of-month and month mean the same in both (`*`, `n`, `a-b`, `*∕s`, `a-b/s`, `a/s`, lists,
 *   month names): they are carried over as written, month names upper-cased.
 * - day-of-week: Unix counts 0 (or 7) = SUN … 6 = SAT, EventBridge 1 = SUN … 7 = SAT. The days are worked out and
 *   written as names (`MON-FRI`, `SUN,SAT`), which read the same in both.
 * - Unix runs a job when day-of-month *or* day-of-week matches if both are restricted (neither is `*`). EventBridge
 *   needs one of them `?` and has no "or": such an expression is refused, naming the two schedules that do it.
 * - Macros: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`. `@reboot` has no
 *   meaning for a scheduler and is refused, as are `L`, `W`, `#` and `?`, which are not Unix cron (write them in
 *   `cron(...)`).
 */

const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] as const;

/** Whether `text` is written as Unix cron: five fields, or a macro (`@daily`). */
export function isUnixCron(text: string): boolean {
  const trimmed = text.trim();
  return trimmed.startsWith("@") || (!/^cron\(/i.test(trimmed) && trimmed.split(/\s+/).length === 5);
}

/** A day-of-week number (0-7, 7 being Sunday again) or name (SUN = 0 … SAT = 6). */
function day(text: string): number {
  const named = DAYS.indexOf(text.toUpperCase() as (typeof DAYS)[number]);
  if (named >= 0) return named;
  if (!/^\d{1,2}$/.test(text)) throw new ExpressionError(`day-of-week: '${text}' is not a number or a name`);
  const n = Number(text);
  if (n > 7) throw new ExpressionError(`day-of-week: ${n} is out of range 0-7 (0 and 7 are Sunday)`);
  return n;
}

/** The days (0 = SUN … 6 = SAT) a Unix day-of-week field names. */
function days(text: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const [base = "", step, extra] = part.split("/");
    if (extra !== undefined || base === "") throw new ExpressionError(`day-of-week: '${part}' is not valid`);
    if (step !== undefined && !/^\d{1,2}$/.test(step)) {
      throw new ExpressionError(`day-of-week: step '/${step}' must be 1-7`);
    }
    const by = step === undefined ? 1 : Number(step);
    if (by < 1 || by > 7) throw new ExpressionError(`day-of-week: step '/${step}' must be 1-7`);
    let from: number;
    let to: number;
    if (base === "*") [from, to] = [0, 7];
    else if (base.includes("-")) {
      const [a = "", b = "", more] = base.split("-");
      if (more !== undefined) throw new ExpressionError(`day-of-week: '${part}' is not a valid range`);
      // 5-7 is FRI to SUN; 0-7 and 1-7 the whole week.
      from = day(a);
      to = day(b);
      if (from > to) throw new ExpressionError(`day-of-week: range '${base}' runs backwards`);
    } else {
      from = day(base);
      to = step === undefined ? from : 7;
    }
    // `*` and `a/s` run to the end of the week: 0-7 covers Sunday twice, which a set keeps once.
    for (let d = from; d <= to; d += by) out.add(d % 7);
  }
  return out;
}

/** Days as EventBridge reads them: names, runs of three or more as ranges (`MON-FRI`), `*` for all. */
function dayNames(set: Set<number>): string {
  if (set.size === 7) return "*";
  const sorted = [...set].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    const [first, last] = [DAYS[sorted[i] ?? 0], DAYS[sorted[j] ?? 0]];
    parts.push(
      j - i >= 2
        ? `${first}-${last}`
        : sorted
            .slice(i, j + 1)
            .map((d) => DAYS[d])
            .join(","),
    );
    i = j + 1;
  }
  return parts.join(",");
}

const NUMERIC = /^[0-9*,/-]+$/;
const NAMED = /^[0-9A-Za-z*,/-]+$/;

/** A field in the characters Unix cron allows there (`L`, `W`, `#` and `?` are EventBridge's), upper-cased. */
function plain(name: string, text: string, allowed: RegExp): string {
  if (!allowed.test(text)) {
    throw new ExpressionError(
      `${name}: '${text}' is not Unix cron (L, W, # and ? are EventBridge's: write them in cron(...) with six fields)`,
    );
  }
  return text.toUpperCase();
}

/**
 * Converts Unix cron (five fields or a macro) to the EventBridge `cron(...)` expression that runs at exactly the
 * same times; throws an {@link ExpressionError} saying why when there is none.
 */
export function fromUnixCron(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith("@")) {
    const macro = MACROS[trimmed.toLowerCase()];
    if (macro) return fromUnixCron(macro);
    if (trimmed.toLowerCase() === "@reboot") {
      throw new ExpressionError("@reboot has no meaning for a scheduler: nothing boots; use a time or a rate");
    }
    throw new ExpressionError(`'${trimmed}' is not a macro: @yearly, @monthly, @weekly, @daily or @hourly`);
  }
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5) {
    throw new ExpressionError(
      `Unix cron has 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`,
    );
  }
  const [minute = "", hour = "", dom = "", month = "", dow = ""] = fields;
  const converted = [
    plain("minutes", minute, NUMERIC),
    plain("hours", hour, NUMERIC),
    plain("day-of-month", dom, NUMERIC),
    plain("month", month, NAMED),
  ];
  const weekdays = days(plain("day-of-week", dow, NAMED));
  if (dom !== "*" && dow !== "*") {
    throw new ExpressionError(
      `day-of-month (${dom}) and day-of-week (${dow}) are both set: Unix cron runs on the days matching either, ` +
        "which no single EventBridge expression says. Use two schedules: " +
        `'${minute} ${hour} ${dom} ${month} *' and '${minute} ${hour} * ${month} ${dow}'`,
    );
  }
  const [dayOfMonth, dayOfWeek] = dow === "*" ? [converted[2], "?"] : ["?", dayNames(weekdays)];
  return `cron(${converted[0]} ${converted[1]} ${dayOfMonth} ${converted[3]} ${dayOfWeek} *)`;
}

export interface StoredCron {
  /** As stored and sent to EventBridge Scheduler: `cron(<six fields>)`. */
  expression: string;
  /** The Unix cron expression it was converted from, as given (trimmed); null when given as `cron(...)`. */
  unix: string | null;
}

/**
 * A schedule's cron expression in either syntax: five-field Unix cron or a macro (converted), or EventBridge's
 * `cron(...)` (or its six fields alone). Throws an {@link ExpressionError} naming what is wrong.
 */
export function parseAnyCron(text: string): StoredCron {
  if (!isUnixCron(text)) {
    try {
      return { expression: parseCron(text).expression, unix: null };
    } catch (error) {
      // `cron(...)` with five fields inside: most likely Unix cron wrapped by habit.
      if (error instanceof ExpressionError && /^cron\(\s*(\S+\s+){4}\S+\s*\)$/i.test(text.trim())) {
        throw new ExpressionError(
          `${error.message}; for Unix cron give the five fields without cron(...), e.g. '*/5 * * * *'`,
        );
      }
      throw error;
    }
  }
  const expression = fromUnixCron(text);
  return { expression: parseCron(expression).expression, unix: text.trim().replace(/\s+/g, " ") };
}
