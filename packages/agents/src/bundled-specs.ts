import type { AgentSpec } from "@nexus/core";
import { alreadyRead } from "@nexus/core/agents";

/**
 * Set at bundle time (esbuild `define`, stacks/bundling.ts) to the built-in agents' specs as JSON text; absent where
 * Nexus runs from its sources (`npm run dev`, tests).
 */
declare const __NEXUS_BUILTIN_SPECS__: string;

/**
 * The built-in agents' specs as the API registers them: in its bundle, the JSON written when the stack is synthesized,
 * already read as registration reads them (so its cold start builds none of the agents' zod schemas, derives no JSON
 * Schema from them, and its first request does not check them again); from their modules, loaded with the first
 * request, where Nexus runs from its sources.
 */
export const builtinSpecs: AgentSpec[] | (() => Promise<AgentSpec[]>) =
  typeof __NEXUS_BUILTIN_SPECS__ === "string"
    ? alreadyRead(JSON.parse(__NEXUS_BUILTIN_SPECS__) as AgentSpec[])
    : async () => (await import("./specs.js")).builtinSpecs;
