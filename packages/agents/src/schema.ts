import type { ParamsSchema } from "@nexus/core";
import { z } from "zod";

/** An action's params schema for the registry, derived from the zod schema its handler parses with. */
export function paramsSchemaOf(schema: z.ZodType): ParamsSchema {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: "input" }) as Record<string, unknown>;
  return json as ParamsSchema;
}
