import * as z from "zod";
import { NonRetriableError, ValidationError } from "./errors.js";
import { pure } from "./pure.js";

/**
 * The JSON-schema-like language an agent uses to describe an action's params: a bounded subset of
 * JSON Schema (types, properties, required, additionalProperties, items, enum, const, numeric and length
 * bounds, pattern). No `$ref`, no remote anything; nesting depth is capped.
 */
export interface ParamsSchema {
  type?: "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";
  description?: string;
  properties?: Record<string, ParamsSchema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: ParamsSchema;
  enum?: Array<string | number | boolean | null>;
  const?: string | number | boolean | null;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  default?: unknown;
}

/** The keywords the language has (what ParamsSchemaSchema accepts). */
export const PARAMS_SCHEMA_KEYWORDS: ReadonlyArray<keyof ParamsSchema> = [
  "type",
  "description",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "const",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "pattern",
  "default",
];

const MAX_DEPTH = 8;
/** Names that mean something to JavaScript objects are refused: they would be dropped or misread. */
const RESERVED_NAMES = new Set(["__proto__", "constructor", "prototype"]);
const propertyName = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(1)
    .max(64)
    .refine((name) => !RESERVED_NAMES.has(name), "__proto__, constructor and prototype are reserved names"),
);
const scalar = /* @__PURE__ */ pure(() => z.union([z.string().max(256), z.number(), z.boolean(), z.null()]));
const count = /* @__PURE__ */ pure(() => z.number().int().min(0).max(1_000_000));

export const ParamsSchemaSchema: z.ZodType<ParamsSchema> = /* @__PURE__ */ pure(() =>
  z
    .lazy(() =>
      z.strictObject({
        type: z.enum(["object", "array", "string", "number", "integer", "boolean", "null"]).optional(),
        description: z.string().max(1000).optional(),
        properties: z
          .record(propertyName, ParamsSchemaSchema)
          .refine((properties) => Object.keys(properties).length <= 100, "at most 100 properties")
          .optional(),
        required: z.array(propertyName).max(100).optional(),
        additionalProperties: z.boolean().optional(),
        items: ParamsSchemaSchema.optional(),
        enum: z.array(scalar).min(1).max(100).optional(),
        const: scalar.optional(),
        minimum: z.number().optional(),
        maximum: z.number().optional(),
        minLength: count.optional(),
        maxLength: count.optional(),
        minItems: count.optional(),
        maxItems: count.optional(),
        pattern: z
          .string()
          .max(200)
          .refine((p) => isValidRegex(p), "must be a valid regular expression")
          .optional(),
        default: z.unknown().optional(),
      }),
    )
    .meta({ id: "ParamsSchema" }),
);

function isValidRegex(pattern: string): boolean {
  try {
    new RegExp(pattern, "u");
    return true;
  } catch {
    return false;
  }
}

function depth(schema: ParamsSchema): number {
  const children = [...Object.values(schema.properties ?? {}), ...(schema.items ? [schema.items] : [])];
  return 1 + Math.max(0, ...children.map(depth));
}

/** Checks that a schema is usable: known keywords, bounded depth, `required` names declared properties. */
export function checkParamsSchema(schema: ParamsSchema, path = "params"): void {
  if (depth(schema) > MAX_DEPTH) throw new ValidationError(`${path} nests deeper than ${MAX_DEPTH} levels`);
  for (const name of schema.required ?? []) {
    if (schema.properties && !Object.hasOwn(schema.properties, name)) {
      throw new ValidationError(`${path}.required names '${name}', which is not in ${path}.properties`);
    }
  }
}

export interface ParamsIssue {
  path: string;
  message: string;
}

/**
 * Validates `params` against an action's schema; returns the issues (empty when valid), each with zod's English
 * message for the same failure. The language is small, so it is checked here rather than by converting it to a zod
 * schema (`z.fromJSONSchema`, which brings every JSON Schema keyword and string format with it: 42 KB of the API's
 * cold start). It reads the schema as that conversion does, which `tests/params-schema.test.ts` checks on generated
 * schemas and values: `enum` or `const`, where given, are the whole check; a schema without `type` takes anything;
 * properties are optional unless `required` names them, or have a `default`; other properties are allowed unless
 * `additionalProperties` is false; `pattern` matches anywhere in the string; lengths count UTF-16 units. Unlike the
 * conversion, an array's `minItems` and `maxItems` hold where its `items` are not described (the conversion drops
 * them), and `pattern` is read with Unicode semantics (the `u` flag), as JSON Schema asks, as it is checked when the
 * agent registers (`ParamsSchemaSchema`) and as the dashboard's form checks it: `\p{L}` is a letter, not "p{L}".
 */
export function validateParams(schema: ParamsSchema, params: unknown): ParamsIssue[] {
  const issues: Issues = [];
  check(schema, params, [], issues);
  return issues.map((issue) => ({ path: paramsPath(issue.path), message: issue.message }));
}

type Issues = { path: PropertyKey[]; message: string }[];

/** `params.to.0`: where in the params an issue is. */
const paramsPath = (path: readonly PropertyKey[]) => ["params", ...path.map(String)].join(".");

/** Each pattern compiled once (patterns come from registered actions, checked on every task submitted to them). */
const patterns = new Map<string, RegExp>();
function patternOf(source: string): RegExp {
  let pattern = patterns.get(source);
  if (!pattern) {
    pattern = new RegExp(source, "u");
    patterns.set(source, pattern);
  }
  return pattern;
}

function check(schema: ParamsSchema, value: unknown, path: PropertyKey[], issues: Issues): void {
  const fail = (message: string, at = path) => issues.push({ path: at, message });
  if (schema.enum !== undefined || schema.const !== undefined) {
    const allowed = schema.enum ?? [schema.const];
    if (!allowed.some((option) => option === value)) {
      fail(
        allowed.length === 1
          ? `Invalid input: expected ${shown(allowed[0])}`
          : `Invalid option: expected one of ${allowed.map(shown).join("|")}`,
      );
    }
    return;
  }
  if (schema.type === undefined) return;
  const received = kindOf(value);
  const expected = schema.type === "integer" ? "number" : schema.type;
  if (received !== expected) {
    fail(`Invalid input: expected ${expected}, received ${received}`);
    return;
  }
  switch (schema.type) {
    case "string": {
      const { length } = value as string;
      if (schema.minLength !== undefined && length < schema.minLength) {
        fail(`Too small: expected string to have >=${schema.minLength} characters`);
      }
      if (schema.maxLength !== undefined && length > schema.maxLength) {
        fail(`Too big: expected string to have <=${schema.maxLength} characters`);
      }
      if (schema.pattern !== undefined && !patternOf(schema.pattern).test(value as string)) {
        fail(`Invalid string: must match pattern /${schema.pattern}/`);
      }
      return;
    }
    case "integer":
    case "number": {
      const n = value as number;
      if (schema.type === "integer") {
        if (!Number.isInteger(n)) {
          fail("Invalid input: expected int, received number");
          return;
        }
        if (n > Number.MAX_SAFE_INTEGER) fail(`Too big: expected int to be <=${Number.MAX_SAFE_INTEGER}`);
        if (n < Number.MIN_SAFE_INTEGER) fail(`Too small: expected int to be >=${Number.MIN_SAFE_INTEGER}`);
      }
      if (schema.minimum !== undefined && n < schema.minimum)
        fail(`Too small: expected number to be >=${schema.minimum}`);
      if (schema.maximum !== undefined && n > schema.maximum)
        fail(`Too big: expected number to be <=${schema.maximum}`);
      return;
    }
    case "array": {
      const items = value as unknown[];
      // Too many items is refused before any is read (as zod does: a long array is not walked).
      if (schema.maxItems !== undefined && items.length > schema.maxItems) {
        fail(`Too big: expected array to have <=${schema.maxItems} items`);
        return;
      }
      if (schema.items) {
        for (const [i, item] of items.entries()) check(schema.items, item, [...path, i], issues);
      }
      if (schema.minItems !== undefined && items.length < schema.minItems) {
        fail(`Too small: expected array to have >=${schema.minItems} items`);
      }
      return;
    }
    case "object": {
      const object = value as Record<string, unknown>;
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      for (const [name, property] of Object.entries(properties)) {
        const present = Object.hasOwn(object, name) && object[name] !== undefined;
        if (!present && (!required.has(name) || property.default !== undefined)) continue;
        if (!present && property.type === undefined && property.enum === undefined && property.const === undefined) {
          fail("Invalid input: expected nonoptional, received undefined", [...path, name]);
          continue;
        }
        check(property, object[name], [...path, name], issues);
      }
      if (schema.additionalProperties === false) {
        const unknown = Object.keys(object).filter((name) => !Object.hasOwn(properties, name));
        if (unknown.length > 0) {
          fail(`Unrecognized key${unknown.length > 1 ? "s" : ""}: ${unknown.map(shown).join(", ")}`);
        }
      }
      return;
    }
    default:
      return;
  }
}

/** What a JSON value is, in the words of zod's messages. */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isNaN(value) ? "NaN" : "number";
  return typeof value;
}

const shown = (value: unknown) => (typeof value === "string" ? JSON.stringify(value) : String(value));

/** `params.<path>: <message>` for each issue, joined: how a refused params object is described. */
export function describeParamsIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .map((issue) => `${paramsPath(issue.path)}: ${issue.message}`)
    .join("; ")
    .slice(0, 1000);
}

/**
 * An action handler's parse of its params. The registry's schema may be looser than the handler's zod
 * schema (object-level rules it cannot express), so a mismatch here is the caller's doing: not retriable.
 */
export function parseParams<T extends z.ZodType>(schema: T, params: unknown): z.output<T> {
  const result = schema.safeParse(params);
  if (result.success) return result.data;
  throw new NonRetriableError("invalid_params", describeParamsIssues(result.error.issues));
}
