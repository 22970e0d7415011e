import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor } from "./cursor.js";
import { ValidationError } from "./errors.js";
import { newId } from "./ids.js";
import { jsonDepth } from "./json-depth.js";
import { checkParamsSchema, ParamsSchemaSchema, validateParams } from "./params-schema.js";
import { retryDelaySeconds } from "./tasks.js";

describe("ids", () => {
  it("sort by creation time and do not collide", () => {
    const early = newId("tsk", new Date("2026-01-01T00:00:00Z"));
    const late = newId("tsk", new Date("2026-01-01T00:00:00.001Z"));
    expect(early < late).toBe(true);
    expect(early).toMatch(/^tsk_[0-9a-z]{26}$/);
    const many = Array.from({ length: 5000 }, () => newId("tsk"));
    expect(new Set(many).size).toBe(5000);
    expect([...many].sort()).toEqual(many); // monotonic, even within one millisecond
    const frozen = new Date("2030-01-01T00:00:00Z");
    const a = newId("x", frozen);
    const b = newId("x", frozen);
    const stepBack = newId("x", new Date("2020-01-01T00:00:00Z"));
    expect(a < b && b < stepBack).toBe(true);
  });

  it("draw fresh random digits for each millisecond, across many refills of the random pool", () => {
    const start = Date.parse("2031-01-01T00:00:00Z");
    const ids = Array.from({ length: 3000 }, (_, i) => newId("tsk", new Date(start + i)));
    const randoms = ids.map((id) => id.slice(-16));
    expect(new Set(randoms).size).toBe(ids.length);
    const counts = new Map<string, number>();
    for (const char of randoms.join("")) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect(counts.size).toBe(32);
    // 48,000 digits over 32 characters: 1,500 each expected; a stuck or skewed source would be far off.
    for (const [char, n] of counts) expect(n, char).toBeGreaterThan(1200);
  });
});

describe("params schemas", () => {
  const schema = ParamsSchemaSchema.parse({
    type: "object",
    properties: {
      to: { type: "string", pattern: "^\\+[1-9][0-9]{6,14}$" },
      count: { type: "integer", minimum: 1, maximum: 5 },
      tags: { type: "array", items: { type: "string", maxLength: 3 }, maxItems: 2 },
    },
    required: ["to"],
    additionalProperties: false,
  });

  it("accept valid params and name each failing field", () => {
    expect(validateParams(schema, { to: "+4915112345678", count: 2, tags: ["a"] })).toEqual([]);
    const issues = validateParams(schema, { to: "0151", count: 9, tags: ["long-tag", "b", "c"], extra: 1 });
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["params.to", "params.count", "params.tags"]));
    expect(issues.some((i) => /extra/.test(i.message))).toBe(true);
    expect(validateParams(schema, { to: "+4915112345678", tags: ["long-tag"] }).map((i) => i.path)).toEqual([
      "params.tags.0",
    ]);
  });

  it("refuse unknown keywords, remote refs, bad regexes, deep nesting and undeclared required names", () => {
    expect(ParamsSchemaSchema.safeParse({ $ref: "http://x" }).success).toBe(false);
    expect(ParamsSchemaSchema.safeParse({ type: "string", pattern: "([" }).success).toBe(false);
    expect(ParamsSchemaSchema.safeParse({ type: "date" }).success).toBe(false);
    let deep: object = { type: "string" };
    for (let i = 0; i < 10; i++) deep = { type: "object", properties: { x: deep } };
    expect(() => checkParamsSchema(ParamsSchemaSchema.parse(deep))).toThrow(ValidationError);
    expect(() => checkParamsSchema({ type: "object", properties: {}, required: ["ghost"] })).toThrow(/ghost/);
  });
});

describe("cursors", () => {
  const names = ["PK", "SK", "GSI2PK", "GSI2SK"];
  const key = { PK: "TASK#1", SK: "TASK", GSI2PK: "TASKS#A#diag", GSI2SK: "tsk_1" };

  it("round-trip within their listing and are refused by any other", () => {
    const cursor = encodeCursor("tasks:TASKS#A#diag", key) ?? "";
    expect(decodeCursor("tasks:TASKS#A#diag", cursor, names)).toEqual(key);
    expect(() => decodeCursor("tasks:TASKS", cursor, names)).toThrow(ValidationError);
    expect(encodeCursor("x", undefined)).toBeNull();
  });

  it("are refused when tampered with", () => {
    const forged = Buffer.from(JSON.stringify({ s: "tasks:TASKS#A#diag", k: { ...key, Extra: "x" } })).toString(
      "base64url",
    );
    expect(() => decodeCursor("tasks:TASKS#A#diag", forged, names)).toThrow(/cursor/);
    const wrongType = Buffer.from(JSON.stringify({ s: "tasks:TASKS#A#diag", k: { ...key, PK: 5 } })).toString(
      "base64url",
    );
    expect(() => decodeCursor("tasks:TASKS#A#diag", wrongType, names)).toThrow(/cursor/);
    expect(() => decodeCursor("tasks:TASKS#A#diag", "!!!", names)).toThrow(/cursor/);
  });
});

describe("retry backoff", () => {
  const policy = { maxAttempts: 5, backoffSeconds: 2, maxBackoffSeconds: 10 };
  it("doubles per attempt within ±20 % jitter and stops at the cap", () => {
    expect(retryDelaySeconds(policy, 1, () => 0.5)).toBe(2);
    expect(retryDelaySeconds(policy, 2, () => 0.5)).toBe(4);
    expect(retryDelaySeconds(policy, 3, () => 0.5)).toBe(8);
    expect(retryDelaySeconds(policy, 4, () => 0.5)).toBe(10);
    expect(retryDelaySeconds(policy, 3, () => 0)).toBe(6);
    expect(retryDelaySeconds(policy, 3, () => 1)).toBe(10);
  });
});

describe("jsonDepth", () => {
  it("measures nesting without recursion, even for hostile depths", () => {
    expect(jsonDepth(5)).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth({ a: [1, { b: null }] })).toBe(3);
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(jsonDepth(deep)).toBe(200_000);
    expect(jsonDepth(deep, 10)).toBe(11);
  });
});
