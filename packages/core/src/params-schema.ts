import * as z from "zod";
import { NonRetriableError, ValidationError } from "./errors.js";

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
const propertyName = z
  .string()
  .min(1)
  .max(64)
  .refine((name) => !RESERVED_NAMES.has(name), "__proto__, constructor and prototype are reserved names");
const scalar = z.union([z.string().max(256), z.number(), z.boolean(), z.null()]);
const count = z.number().int().min(0).max(1_000_000);

export const ParamsSchemaSchema: z.ZodType<ParamsSchema> = z
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
  .meta({ id: "ParamsSchema" });

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

const compiled = new WeakMap<ParamsSchema, z.ZodType>();

function compile(schema: ParamsSchema): z.ZodType {
  let zod = compiled.get(schema);
  if (!zod) {
    zod = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    compiled.set(schema, zod);
  }
  return zod;
}

export interface ParamsIssue {
  path: string;
  message: string;
}

/** Validates `params` against an action's schema; returns the issues (empty when valid). */
export function validateParams(schema: ParamsSchema, params: unknown): ParamsIssue[] {
  const result = compile(schema).safeParse(params);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({
    path: ["params", ...issue.path.map(String)].join("."),
    message: issue.message,
  }));
}

/** `params.<path>: <message>` for each issue, joined: how a refused params object is described. */
export function describeParamsIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .map((issue) => `${["params", ...issue.path.map(String)].join(".")}: ${issue.message}`)
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
