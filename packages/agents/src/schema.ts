import { type AgentSpec, PARAMS_SCHEMA_KEYWORDS, type ParamsSchema } from "@nexus/core";
import * as z from "zod";

const KEYWORDS = new Set<string>(PARAMS_SCHEMA_KEYWORDS);

/**
 * An action's params schema for the registry, derived from the zod schema its handler parses with and
 * reduced to the registry's language. What that language cannot say (object-level refinements, `format`,
 * open objects' `additionalProperties: {}`) is left out: the registry's check is then looser, and the
 * handler's zod parse ({@link parseParams}) stays exact.
 */
export function paramsSchemaOf(schema: z.ZodType): ParamsSchema {
  const reduce = (node: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (!KEYWORDS.has(key)) continue;
      if (key === "additionalProperties" && typeof value !== "boolean") continue;
      if (key === "items") out[key] = reduce(value as Record<string, unknown>);
      else if (key === "properties") {
        const properties = value as Record<string, Record<string, unknown>>;
        out[key] = Object.fromEntries(Object.entries(properties).map(([name, child]) => [name, reduce(child)]));
      } else out[key] = value;
    }
    return out;
  };
  return reduce(z.toJSONSchema(schema, { io: "input" }) as Record<string, unknown>) as ParamsSchema;
}

/**
 * A built-in agent's spec whose actions are made on first read, then kept: deriving their params schemas
 * ({@link paramsSchemaOf}) runs zod's JSON Schema writer, which an agent's cold start does not need (its handlers parse
 * with the zod schemas; the API registers the specs from JSON written when the stack is synthesized). For the ops
 * agent that was about 20 ms of its import.
 */
export function builtinSpec(about: Omit<AgentSpec, "actions">, actions: () => AgentSpec["actions"]): AgentSpec {
  let made: AgentSpec["actions"] | undefined;
  const spec = { ...about } as AgentSpec;
  return Object.defineProperty(spec, "actions", { enumerable: true, get: () => (made ??= actions()) });
}
