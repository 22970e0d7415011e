import { describe, expect, it } from "vitest";
import { AttemptLogBuffer, capturing, collecting, MAX_BYTES, MAX_LINES, redact, redactText } from "./task-logs.js";

const clock = () => new Date("2026-01-01T00:00:00.000Z");

/** A logger as handlers see one: level methods taking (message, ...fields); what it printed is kept. */
function printingLogger() {
  const printed: string[] = [];
  const logger = {
    info: (message: string, ...fields: unknown[]) => printed.push(`INFO ${message} ${JSON.stringify(fields)}`),
    warn: (message: string, ...fields: unknown[]) => printed.push(`WARN ${message} ${JSON.stringify(fields)}`),
    createChild() {
      return this;
    },
  };
  return { logger, printed };
}

describe("attempt logs", () => {
  it("keeps what a capturing logger writes within the attempt, and still prints it", async () => {
    const { logger, printed } = printingLogger();
    const captured = capturing(logger);
    const first = new AttemptLogBuffer(1, clock);
    const second = new AttemptLogBuffer(2, clock);
    captured.info("before any attempt");
    await Promise.all([
      collecting(first, async () => {
        captured.info("one", { step: 1 });
        await new Promise((resolve) => setTimeout(resolve, 5));
        captured.warn("one again");
      }),
      collecting(second, async () => captured.info("two")),
    ]);
    expect(first.record().lines.map((l) => [l.level, l.message, l.data])).toEqual([
      ["info", "one", '{"step":1}'],
      ["warn", "one again", undefined],
    ]);
    expect(second.record().lines.map((l) => l.message)).toEqual(["two"]);
    expect(printed).toHaveLength(4);
    expect(capturing(captured)).toBe(captured);
    expect(captured.createChild()).toBe(logger);
  });

  it("keeps the newest lines within 200 lines and 64 KB, counting the dropped", () => {
    const buffer = new AttemptLogBuffer(1, clock);
    for (let i = 0; i < 250; i++) buffer.add("info", [`line ${i}`]);
    const record = buffer.record();
    expect(record.lines).toHaveLength(MAX_LINES);
    expect(record.dropped).toBe(50);
    expect(record.lines[0]?.message).toBe("line 50");

    const big = new AttemptLogBuffer(1, clock);
    for (let i = 0; i < 100; i++) big.add("info", [`${i} ${"x".repeat(1900)}`, { blob: "y".repeat(1900) }]);
    const bounded = big.record();
    expect(JSON.stringify(bounded.lines).length).toBeLessThan(MAX_BYTES + 4096);
    expect(bounded.dropped).toBeGreaterThan(0);
    expect(bounded.lines.at(-1)?.message.startsWith("99 ")).toBe(true);
  });

  it("redacts secrets by field name and by their look", () => {
    const key = `nxk_abcdefghjkmn_${"A".repeat(43)}`;
    expect(redactText(`used ${key} to call`)).toBe("used [redacted] to call");
    expect(redactText("Authorization: Bearer abc.def.ghi123")).toBe("Authorization: [redacted]");
    expect(redactText("fetch https://user:hunter2@example.com/x")).toBe("fetch https://user:[redacted]@example.com/x");
    expect(redactText("key AKIAABCDEFGHIJKLMNOP")).toBe("key [redacted]");
    expect(
      redact({ authToken: "s3cret", nested: { password: "p", apiKey: "k", ok: "fine" }, list: [`x ${key}`] }),
    ).toEqual({
      authToken: "[redacted]",
      nested: { password: "[redacted]", apiKey: "[redacted]", ok: "fine" },
      list: ["x [redacted]"],
    });
    const buffer = new AttemptLogBuffer(1, clock);
    buffer.add("info", [`calling with ${key}`, { secret: "shh", url: "https://hooks.slack.com/services/T/B/X" }]);
    const line = JSON.stringify(buffer.record().lines);
    expect(line).not.toContain(key);
    expect(line).not.toContain("shh");
    expect(line).not.toContain("hooks.slack.com/services");
  });
});
