import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The plan state machine's definition (Amazon States Language, JSONPath): the one file the stack deploys. */
export const PLAN_DEFINITION_FILE = fileURLToPath(new URL("./plan.asl.json", import.meta.url));

/** The definition with `${Name}` placeholders substituted, as CloudFormation's DefinitionSubstitutions do. */
export function planDefinition(substitutions: Record<string, string>): Record<string, unknown> {
  const text = readFileSync(PLAN_DEFINITION_FILE, "utf8").replace(/\$\{([A-Za-z0-9]+)\}/g, (whole, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new Error(`no substitution for ${whole} in the plan definition`);
    return value;
  });
  return JSON.parse(text);
}
