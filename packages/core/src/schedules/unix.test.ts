import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExpressionError, runsBetween } from "./expression.js";
import { fromUnixCron, isUnixCron, parseAnyCron } from "./unix.js";

describe("Unix cron, converted to EventBridge's cron(...)", () => {
  it("converts the common forms, days of the week as names (Unix 0 and 7 = SUN, EventBridge 1 = SUN)", () => {
    const cases: Array<[string, string]> = [
      ["*/5 * * * *", "cron(*/5 * * * ? *)"],
      ["0 9 * * 1-5", "cron(0 9 ? * MON-FRI *)"],
      ["0 9 * * mon-fri", "cron(0 9 ? * MON-FRI *)"],
      ["0 0 * * 0", "cron(0 0 ? * SUN *)"],
      ["0 0 * * 7", "cron(0 0 ? * SUN *)"],
      ["30 6 * * 5-7", "cron(30 6 ? * SUN,FRI,SAT *)"],
      ["0 0 * * */2", "cron(0 0 ? * SUN,TUE,THU,SAT *)"],
      ["0 0 * * 1,3,5", "cron(0 0 ? * MON,WED,FRI *)"],
      ["0 0 * * 0-7", "cron(0 0 ? * * *)"],
      ["15 8-17/2 * * 6,0", "cron(15 8-17/2 ? * SUN,SAT *)"],
      ["0 12 1 */2 *", "cron(0 12 1 */2 ? *)"],
      ["0 0 1,15 jan-jun *", "cron(0 0 1,15 JAN-JUN ? *)"],
      ["5/15 * * * *", "cron(5/15 * * * ? *)"],
      ["0 0 * * *", "cron(0 0 * * ? *)"],
      ["  0   9 * *   1-5 ", "cron(0 9 ? * MON-FRI *)"],
      ["@hourly", "cron(0 * * * ? *)"],
      ["@daily", "cron(0 0 * * ? *)"],
      ["@midnight", "cron(0 0 * * ? *)"],
      ["@weekly", "cron(0 0 ? * SUN *)"],
      ["@monthly", "cron(0 0 1 * ? *)"],
      ["@yearly", "cron(0 0 1 1 ? *)"],
      ["@ANNUALLY", "cron(0 0 1 1 ? *)"],
    ];
    for (const [unix, eventBridge] of cases) {
      expect(isUnixCron(unix), unix).toBe(true);
      expect(parseAnyCron(unix), unix).toEqual({ expression: eventBridge, unix: unix.trim().replace(/\s+/g, " ") });
    }
  });

  it("keeps EventBridge expressions as they are, and says nothing was converted", () => {
    expect(parseAnyCron("cron(0 9 ? * MON-FRI *)")).toEqual({ expression: "cron(0 9 ? * MON-FRI *)", unix: null });
    expect(parseAnyCron("0 9 ? * 2-6 *")).toEqual({ expression: "cron(0 9 ? * 2-6 *)", unix: null });
    expect(isUnixCron("cron(0 9 * * ? *)")).toBe(false);
  });

  it("refuses what Unix cron does not say, or what one EventBridge expression cannot, saying why", () => {
    const cases: Array<[string, RegExp]> = [
      ["0 9 1 * 1", /both set: Unix cron runs on the days matching either.*'0 9 1 \* \*' and '0 9 \* \* 1'/],
      ["0 9 */2 * MON", /both set/],
      ["0 9 L * *", /day-of-month: 'L' is not Unix cron .*cron\(\.\.\.\)/],
      ["0 9 15W * *", /not Unix cron/],
      ["0 9 ? * 1", /not Unix cron/],
      ["0 9 * * 1#2", /day-of-week: '1#2' is not Unix cron/],
      ["0 9 * * 5L", /day-of-week: '5L' is not a number or a name/],
      ["@reboot", /nothing boots/],
      ["@sometimes", /not a macro/],
      ["60 * * * *", /minutes: 60 is out of range 0-59/],
      ["0 24 * * *", /hours: 24 is out of range/],
      ["0 0 0 * *", /day-of-month: 0 is out of range 1-31/],
      ["0 0 * 13 *", /month: 13 is out of range/],
      ["0 0 * * 8", /day-of-week: 8 is out of range 0-7/],
      ["0 0 * * FUN", /day-of-week: 'FUN' is not a number or a name/],
      ["*/0 * * * *", /step/],
      ["*/61 * * * *", /step '\/61' must be 1-60/],
      ["0 0 * * */8", /step '\/8' must be 1-7/],
      ["5-1 * * * *", /runs backwards/],
      ["0 0 * * 5-1", /runs backwards/],
      ["cron(0 9 * * *)", /6 fields.*without cron\(\.\.\.\)/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseAnyCron(text), text).toThrow(ExpressionError);
      expect(() => parseAnyCron(text), text).toThrow(message);
    }
    expect(() => fromUnixCron("0 9 * *")).toThrow(/5 fields/);
  });
});

// ── The property: for any valid Unix expression, the converted one runs at exactly the same times ─────────────

const FIELD = {
  minute: { min: 0, max: 59 },
  hour: { min: 0, max: 23 },
  dom: { min: 1, max: 31 },
  month: {
    min: 1,
    max: 12,
    names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  },
  dow: { min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
} as const;
type Field = (typeof FIELD)[keyof typeof FIELD];

/** A reference reading of one Unix cron field (crontab(5)), written apart from the converter: the values it matches. */
function matches(field: Field, text: string): Set<number> {
  const number = (t: string) => {
    const named = "names" in field ? (field.names as readonly string[]).indexOf(t.toUpperCase()) : -1;
    return named >= 0 ? named + (field.min === 0 ? 0 : 1) : Number(t);
  };
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const [range = "", step = "1"] = part.split("/");
    const [lo, hi] =
      range === "*"
        ? [field.min, field.max]
        : range.includes("-")
          ? range.split("-").map(number)
          : part.includes("/")
            ? [number(range), field.max]
            : [number(range), number(range)];
    for (let v = lo ?? 0; v <= (hi ?? 0); v += Number(step)) out.add(field === FIELD.dow ? v % 7 : v);
  }
  return out;
}

/**
 * The next `count` runs after `from` of a Unix expression in a zone with a fixed offset, minute by minute (whole days
 * and hours skipped when they cannot match), up to `until`. Day-of-month and day-of-week: both must match when
 * either field is `*`, otherwise either (crontab(5)).
 */
function unixRuns(text: string, offsetMinutes: number, from: Date, until: Date, count: number): string[] {
  const [minute = "", hour = "", dom = "", month = "", dow = ""] = text.split(" ");
  const sets = {
    minute: matches(FIELD.minute, minute),
    hour: matches(FIELD.hour, hour),
    dom: matches(FIELD.dom, dom),
    month: matches(FIELD.month, month),
    dow: matches(FIELD.dow, dow),
  };
  const either = !dom.startsWith("*") && !dow.startsWith("*");
  const runs: string[] = [];
  const shift = offsetMinutes * 60_000;
  let wall = (Math.floor(from.getTime() / 60_000) + 1) * 60_000 + shift;
  const end = until.getTime() + shift;
  while (wall <= end && runs.length < count) {
    const d = new Date(wall);
    const dayOk = sets.dom.has(d.getUTCDate());
    const weekdayOk = sets.dow.has(d.getUTCDay());
    const day = sets.month.has(d.getUTCMonth() + 1) && (either ? dayOk || weekdayOk : dayOk && weekdayOk);
    if (!day) {
      wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      continue;
    }
    if (!sets.hour.has(d.getUTCHours())) {
      wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
      continue;
    }
    if (sets.minute.has(d.getUTCMinutes())) runs.push(new Date(wall - shift).toISOString());
    wall += 60_000;
  }
  return runs;
}

const size = (f: Field) => f.max - f.min + 1;
/** One item of a field: `*`, `*∕s`, `n`, `a-b`, `a-b/s`, `a/s`, numbers or (where the field has them) names. */
const item = (f: Field) => {
  const value = fc.integer({ min: f.min, max: f.max });
  const written = (n: number) =>
    "names" in f && n - (f.min === 0 ? 0 : 1) < f.names.length
      ? fc.constantFrom(String(n), f.names[n - (f.min === 0 ? 0 : 1)] ?? String(n))
      : fc.constant(String(n));
  const step = fc.integer({ min: 1, max: f === FIELD.dow ? 7 : size(f) });
  return fc.oneof(
    fc.constant("*"),
    step.map((s) => `*/${s}`),
    value.chain(written),
    fc
      .tuple(value, value)
      .map(([a, b]) => [Math.min(a, b), Math.max(a, b)])
      .chain(([a = 0, b = 0]) => fc.tuple(written(a), written(b)))
      .map(([a, b]) => `${a}-${b}`),
    fc.tuple(value, value, step).map(([a, b, s]) => `${Math.min(a, b)}-${Math.max(a, b)}/${s}`),
    fc.tuple(value, step).map(([a, s]) => `${a}/${s}`),
  );
};
const field = (f: Field, star = 1) =>
  fc.oneof(
    { weight: star, arbitrary: fc.constant("*") },
    { weight: 3, arbitrary: fc.array(item(f), { minLength: 1, maxLength: 3 }).map((items) => items.join(",")) },
  );
const unixExpression = fc
  .tuple(field(FIELD.minute), field(FIELD.hour), field(FIELD.dom, 3), field(FIELD.month, 3), field(FIELD.dow, 2))
  .map((fields) => fields.join(" "));

const ZONES = [
  { zone: "UTC", offset: 0 },
  { zone: "Asia/Tokyo", offset: 9 * 60 },
  { zone: "Asia/Kolkata", offset: 5 * 60 + 30 },
];

describe("Unix cron conversion, checked against a reference reading of crontab(5)", () => {
  it("runs at exactly the times the Unix expression names, or is refused when both day fields are set", () => {
    fc.assert(
      fc.property(
        unixExpression,
        fc.date({ min: new Date("2024-01-01T00:00:00Z"), max: new Date("2031-12-31T00:00:00Z"), noInvalidDate: true }),
        fc.constantFrom(...ZONES),
        (text, from, { zone, offset }) => {
          const [, , dom, , dow] = text.split(" ");
          if (dom !== "*" && dow !== "*") {
            expect(() => parseAnyCron(text), text).toThrow(/both set/);
            return;
          }
          const { expression } = parseAnyCron(text);
          // Four years and a day: every weekday of every date, leap days included.
          const until = new Date(from.getTime() + 1462 * 86_400_000);
          const expected = unixRuns(text, offset, from, until, 5);
          const actual = runsBetween({ cron: expression, timezone: zone }, new Date(from.getTime() + 1), until, 5);
          expect(
            actual.map((d) => d.toISOString()),
            `${text} → ${expression} in ${zone} after ${from.toISOString()}`,
          ).toEqual(expected);
        },
      ),
      { numRuns: 400 },
    );
  });
});
