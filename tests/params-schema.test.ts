import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as z from "zod";
import { type ParamsSchema, ParamsSchemaSchema, validateParams } from "../packages/core/src/params-schema.js";

/**
 * An action's params are checked against its schema by `validateParams`, which reads the schema language as zod's own
 * conversion (`z.fromJSONSchema`) does: here both judge generated schemas and values, and must accept the same and
 * report the same issues, path and message (`validateParams` says a little more where zod stops early). The conversion
 * is not in the API's bundle; it is the reference.
 */
const viaZod = (schema: ParamsSchema, value: unknown) => {
  const result = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]).safeParse(value);
  if (result.success) return [];
  // One quirk left out: after a string where an array was expected, zod also applies the array's length bounds to the
  // string ("expected string to have <=2 characters"). Nothing more is said of a value of the wrong type.
  const mistyped = new Set<string>();
  return result.error.issues.flatMap((issue) => {
    const path = ["params", ...issue.path.map(String)].join(".");
    if (mistyped.has(path)) return [];
    if (issue.code === "invalid_type") mistyped.add(path);
    return [{ path, message: issue.message }];
  });
};

const NAMES = ["a", "b", "c"] as const;
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const withoutUndefined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const scalar = fc.oneof(
  fc.constantFrom("a", "ab", "abc", "b1", "", "x".repeat(5)),
  fc.constantFrom(0, 1, 2, 1.5, -3, 100, 2 ** 60, -(2 ** 60)),
  fc.boolean(),
  fc.constant(null),
);

const schemaArb: fc.Arbitrary<ParamsSchema> = fc.letrec<{ schema: ParamsSchema }>((tie) => ({
  schema: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc
      .record({
        minLength: optional(fc.integer({ min: 0, max: 4 })),
        maxLength: optional(fc.integer({ min: 0, max: 4 })),
        pattern: optional(fc.constantFrom("^a", "b", "^[a-z]+$", "\\d", "^$")),
      })
      .map((r) => withoutUndefined({ type: "string" as const, ...r })),
    fc
      .record({
        type: fc.constantFrom("number" as const, "integer" as const),
        minimum: optional(fc.constantFrom(-1, 0, 1, 2.5)),
        maximum: optional(fc.constantFrom(0, 1, 2, 50)),
      })
      .map(withoutUndefined),
    fc.constantFrom<ParamsSchema>({ type: "boolean" }, { type: "null" }, {}, { description: "anything" }),
    fc.uniqueArray(fc.constantFrom("a", "ab", "b1", "x"), { minLength: 1, maxLength: 3 }).map((e) => ({ enum: e })),
    scalar.map((value) => ({ enum: [value] })),
    scalar.map((value) => ({ const: value })),
    fc
      .record({
        // Always with items: zod's conversion drops an array's bounds where `items` is not given (tested below).
        items: tie("schema"),
        minItems: optional(fc.integer({ min: 0, max: 3 })),
        maxItems: optional(fc.integer({ min: 0, max: 3 })),
      })
      .map((r) => withoutUndefined({ type: "array" as const, ...r })),
    fc
      .record({
        properties: fc.dictionary(
          fc.constantFrom(...NAMES),
          fc.tuple(tie("schema"), fc.boolean()).map(([s, withDefault]) => (withDefault ? { ...s, default: "x" } : s)),
          { maxKeys: 3 },
        ),
        required: fc.subarray([...NAMES]),
        additionalProperties: optional(fc.boolean()),
      })
      .map(({ properties, required, additionalProperties }) =>
        withoutUndefined({
          type: "object" as const,
          properties,
          required: required.filter((name) => name in properties),
          additionalProperties,
        }),
      ),
  ),
})).schema;

const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...NAMES, "d"), tie("value"), { maxKeys: 4 }),
  ),
})).value;

describe("params against an action's schema", () => {
  it("are judged as zod's conversion of the schema judges them: same issues, paths and messages", () => {
    fc.assert(
      fc.property(schemaArb, valueArb, (schema, value) => {
        expect(ParamsSchemaSchema.safeParse(schema).success).toBe(true);
        const ours = validateParams(schema, value);
        const zods = viaZod(schema, value);
        // Where an item is refused for too many entries, zod stops checking the array holding it: its own bounds are
        // then reported here only. Everything zod reports is reported here, in the same order.
        const extra = ours.filter((issue) => !zods.some((z) => z.path === issue.path && z.message === issue.message));
        expect(extra.every((issue) => /^Too (small|big): expected array/.test(issue.message))).toBe(true);
        expect(ours.filter((issue) => !extra.includes(issue))).toEqual(zods);
        expect(ours.length === 0).toBe(zods.length === 0);
      }),
      { numRuns: 3000 },
    );
  });

  it("name each failing field of a realistic schema, and pass what fits", () => {
    const schema: ParamsSchema = {
      type: "object",
      properties: {
        to: { type: "string", pattern: "^\\+[1-9][0-9]{6,14}$" },
        count: { type: "integer", minimum: 1, maximum: 5 },
        mode: { enum: ["fast", "slow"] },
        tags: { type: "array", items: { type: "string", maxLength: 3 }, maxItems: 2 },
      },
      required: ["to"],
      additionalProperties: false,
    };
    expect(validateParams(schema, { to: "+4915112345678", count: 2, mode: "slow", tags: ["a"] })).toEqual([]);
    expect(validateParams(schema, { to: 4915112345678, count: 1.5, mode: "soon", tags: ["long"], cc: "x" })).toEqual([
      { path: "params.to", message: "Invalid input: expected string, received number" },
      { path: "params.count", message: "Invalid input: expected int, received number" },
      { path: "params.mode", message: 'Invalid option: expected one of "fast"|"slow"' },
      { path: "params.tags.0", message: "Too big: expected string to have <=3 characters" },
      { path: "params", message: 'Unrecognized key: "cc"' },
    ]);
    expect(validateParams(schema, {})).toEqual([
      { path: "params.to", message: "Invalid input: expected string, received undefined" },
    ]);
  });

  it("bound an array's length where its items are not described (zod's conversion drops those bounds)", () => {
    const schema: ParamsSchema = { type: "array", minItems: 1, maxItems: 2 };
    expect(viaZod(schema, [])).toEqual([]);
    expect(validateParams(schema, [])).toEqual([
      { path: "params", message: "Too small: expected array to have >=1 items" },
    ]);
    expect(validateParams(schema, [1, "a", null])).toEqual([
      { path: "params", message: "Too big: expected array to have <=2 items" },
    ]);
    expect(validateParams(schema, [1, "a"])).toEqual([]);
  });

  it("read a pattern with Unicode semantics, as the agent's registration checked it (zod's reader does not)", () => {
    const schema: ParamsSchema = { type: "string", pattern: "^\\p{L}+$" };
    expect(ParamsSchemaSchema.safeParse(schema).success).toBe(true);
    expect(validateParams(schema, "Grüße")).toEqual([]);
    expect(viaZod(schema, "Grüße")).not.toEqual([]);
    expect(validateParams(schema, "p{L}")).toEqual([
      { path: "params", message: "Invalid string: must match pattern /^\\p{L}+$/" },
    ]);
  });

  it("name every allowed value of an enum that mixes kinds (where zod says only 'Invalid input')", () => {
    expect(validateParams({ enum: ["a", 1, null] }, 2)).toEqual([
      { path: "params", message: 'Invalid option: expected one of "a"|1|null' },
    ]);
    expect(validateParams({ enum: ["a", 1, null] }, null)).toEqual([]);
  });
});
