import type { AgentSpec } from "@nexus/core";

/**
 * Set at bundle time (esbuild `define`, stacks/bundling.ts) to the built-in agents' specs as JSON text; absent where
 * Nexus runs from its sources (`npm run dev`, tests).
 */
declare const __NEXUS_BUILTIN_SPECS__: string;

/**
 * The built-in agents' specs as the API registers them: in its bundle, the JSON written when the stack is synthesized
 * (so its cold start builds none of the agents' zod schemas and derives no JSON Schema from them); from their modules,
 * loaded with the first request, where Nexus runs from its sources.
 */
export const builtinSpecs: AgentSpec[] | (() => Promise<AgentSpec[]>) =
  typeof __NEXUS_BUILTIN_SPECS__ === "string"
    ? (JSON.parse(__NEXUS_BUILTIN_SPECS__) as AgentSpec[])
    : async () => (await import("./specs.js")).builtinSpecs;
