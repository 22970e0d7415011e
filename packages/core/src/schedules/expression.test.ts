import { describe, expect, it } from "vitest";
import { ExpressionError, isTimeZone, nextRun, parseCron, parseRate, runsBetween } from "./expression.js";

const iso = (d: Date | null) => d?.toISOString() ?? null;
/** The next `n` runs after `from`. */
function runs(recurrence: Parameters<typeof nextRun>[0], from: string, n: number): string[] {
  const out: string[] = [];
  let at: Date | null = new Date(from);
  for (let i = 0; i < n && at; i++) {
    at = nextRun(recurrence, at);
    if (at) out.push(at.toISOString());
  }
  return out;
}

describe("cron expressions (EventBridge Scheduler syntax)", () => {
  it("take six fields, with or without cron(...), and keep the wrapped form", () => {
    expect(parseCron("cron(0 9 * * ? *)").expression).toBe("cron(0 9 * * ? *)");
    expect(parseCron("  0 9  * * ? * ").expression).toBe("cron(0 9 * * ? *)");
    expect(parseCron("cron(0/15 8-17 ? * MON-FRI *)").pattern).toBe("0 0-59/15 8-17 * * 2-6 *");
  });

  it("refuse anything else, naming the field", () => {
    const cases: Array<[string, RegExp]> = [
      ["cron(0 9 * * *)", /6 fields/],
      ["0 9 * * * * *", /6 fields/],
      ["cron(0 9 * * * *)", /use '\?' in one of them/],
      ["cron(0 9 ? * ? *)", /cannot both be '\?'/],
      ["cron(60 9 * * ? *)", /minutes: 60 is out of range 0-59/],
      ["cron(0 24 * * ? *)", /hours: 24 is out of range/],
      ["cron(0 9 0 * ? *)", /day-of-month: 0 is out of range 1-31/],
      ["cron(0 9 * 13 ? *)", /month: 13 is out of range/],
      ["cron(0 9 ? * 8 *)", /day-of-week: 8 is out of range 1-7/],
      ["cron(0 9 ? * FUN *)", /day-of-week: 'FUN'/],
      ["cron(0 9 * * ? 1969)", /year: 1969 is out of range 1970-2199/],
      ["cron(5-1 9 * * ? *)", /runs backwards/],
      ["cron(*/0 9 * * ? *)", /step/],
      ["cron(0 ? * * ? *)", /hours: '\?' is allowed in day-of-month or day-of-week only/],
      ["cron(0 9 ? * 2#6 *)", /occurrence must be 1-5/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseCron(text), text).toThrow(ExpressionError);
      expect(() => parseCron(text), text).toThrow(message);
    }
  });

  it("run in UTC by default: every weekday at 09:00, Sunday = 1", () => {
    // 2026-01-01 is a Thursday.
    expect(runs({ cron: "cron(0 9 ? * MON-FRI *)", timezone: "UTC" }, "2026-01-01T09:00:00Z", 3)).toEqual([
      "2026-01-02T09:00:00.000Z",
      "2026-01-05T09:00:00.000Z",
      "2026-01-06T09:00:00.000Z",
    ]);
    expect(runs({ cron: "cron(30 6 ? * 1 *)", timezone: "UTC" }, "2026-01-01T00:00:00Z", 1)).toEqual([
      "2026-01-04T06:30:00.000Z",
    ]);
  });

  it("know L, W and # as EventBridge does", () => {
    const from = "2026-01-01T00:00:00Z";
    expect(runs({ cron: "cron(0 12 L * ? *)", timezone: "UTC" }, from, 2)).toEqual([
      "2026-01-31T12:00:00.000Z",
      "2026-02-28T12:00:00.000Z",
    ]);
    // The weekday nearest the 15th: Feb 15 2026 is a Sunday → Monday 16th.
    expect(runs({ cron: "cron(0 12 15W * ? *)", timezone: "UTC" }, "2026-02-01T00:00:00Z", 1)).toEqual([
      "2026-02-16T12:00:00.000Z",
    ]);
    // Last Friday, third Monday.
    expect(runs({ cron: "cron(0 12 ? * 6L *)", timezone: "UTC" }, from, 1)).toEqual(["2026-01-30T12:00:00.000Z"]);
    expect(runs({ cron: "cron(0 12 ? * MON#3 *)", timezone: "UTC" }, from, 1)).toEqual(["2026-01-19T12:00:00.000Z"]);
  });

  it("run at the local time of their time zone", () => {
    // Berlin is UTC+1 in winter, UTC+2 in summer.
    expect(runs({ cron: "cron(0 9 * * ? *)", timezone: "Europe/Berlin" }, "2026-01-10T00:00:00Z", 1)).toEqual([
      "2026-01-10T08:00:00.000Z",
    ]);
    expect(runs({ cron: "cron(0 9 * * ? *)", timezone: "Europe/Berlin" }, "2026-07-10T00:00:00Z", 1)).toEqual([
      "2026-07-10T07:00:00.000Z",
    ]);
  });

  it("skip a local time that does not exist when clocks go forward (DST)", () => {
    // New York: 2026-03-08 02:00 EST → 03:00 EDT; 02:30 does not exist that day.
    expect(runs({ cron: "cron(30 2 * * ? *)", timezone: "America/New_York" }, "2026-03-07T00:00:00Z", 3)).toEqual([
      "2026-03-07T07:30:00.000Z",
      "2026-03-09T06:30:00.000Z",
      "2026-03-10T06:30:00.000Z",
    ]);
  });

  it("run a local time that occurs twice when clocks go back only once, at its first occurrence (DST)", () => {
    // New York: 2026-11-01 02:00 EDT → 01:00 EST; 01:30 happens twice.
    expect(runs({ cron: "cron(30 1 * * ? *)", timezone: "America/New_York" }, "2026-10-31T12:00:00Z", 2)).toEqual([
      "2026-11-01T05:30:00.000Z",
      "2026-11-02T06:30:00.000Z",
    ]);
    // Every 30 minutes through the repeated hour: 01:00 and 01:30 run once each.
    expect(runs({ cron: "cron(0/30 * * * ? *)", timezone: "America/New_York" }, "2026-11-01T04:45:00Z", 4)).toEqual([
      "2026-11-01T05:00:00.000Z", // 01:00 EDT
      "2026-11-01T05:30:00.000Z", // 01:30 EDT
      "2026-11-01T07:00:00.000Z", // 02:00 EST (01:00 and 01:30 EST skipped)
      "2026-11-01T07:30:00.000Z",
    ]);
  });

  it("end when their years are over", () => {
    expect(nextRun({ cron: "cron(0 9 1 1 ? 2027)", timezone: "UTC" }, new Date("2026-06-01T00:00:00Z"))).toEqual(
      new Date("2027-01-01T09:00:00Z"),
    );
    expect(nextRun({ cron: "cron(0 9 1 1 ? 2027)", timezone: "UTC" }, new Date("2027-06-01T00:00:00Z"))).toBeNull();
  });
});

describe("rate expressions", () => {
  it("take minutes, hours or days, at least one minute, singular for 1", () => {
    expect(parseRate("rate(5 minutes)")).toEqual({ expression: "rate(5 minutes)", seconds: 300 });
    expect(parseRate("1 hour")).toEqual({ expression: "rate(1 hour)", seconds: 3600 });
    expect(parseRate("rate(2 days)").seconds).toBe(172_800);
    expect(() => parseRate("rate(30 seconds)")).toThrow(/shortest rate is 1 minute/);
    expect(() => parseRate("rate(0 minutes)")).toThrow(/shortest rate is 1 minute/);
    expect(() => parseRate("rate(1 minutes)")).toThrow(/rate\(1 minute\)/);
    expect(() => parseRate("rate(5 minute)")).toThrow(/rate\(5 minutes\)/);
    expect(() => parseRate("rate(5 weeks)")).toThrow(/not minutes, hours or days/);
    expect(() => parseRate("every 5 minutes")).toThrow(/rate\(value unit\)/);
  });

  it("run every interval from their anchor, whatever the time zone", () => {
    const anchor = "2026-01-01T00:00:30Z";
    const rate = { rate: "rate(5 minutes)", timezone: "Asia/Kolkata", anchor };
    expect(iso(nextRun(rate, new Date(anchor)))).toBe("2026-01-01T00:05:30.000Z");
    expect(iso(nextRun(rate, new Date("2026-01-01T00:05:30Z")))).toBe("2026-01-01T00:10:30.000Z");
    expect(iso(nextRun(rate, new Date("2026-01-01T01:02:00Z")))).toBe("2026-01-01T01:05:30.000Z");
    expect(runsBetween(rate, new Date("2026-01-01T00:05:30Z"), new Date("2026-01-01T00:20:30Z"))).toHaveLength(4);
  });
});

describe("time zones", () => {
  it("are IANA names", () => {
    for (const zone of ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"]) {
      expect(isTimeZone(zone), zone).toBe(true);
    }
    for (const zone of ["Mars/Olympus_Mons", "+01:00", "", "Europe/Berlin/", "../etc"]) {
      expect(isTimeZone(zone), zone).toBe(false);
    }
  });
});
