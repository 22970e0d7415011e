/**
 * How every Nexus function is bundled: SST v2 bundles a Node function with esbuild as ESM (target esnext, SDK
 * included); on top of that, code splitting and minification. With `splitting`, what a function loads with `import()`
 * (clients and code few invocations need) becomes chunks of its own, read on first use rather than with the handler's
 * module at cold start. Light on purpose (no CDK): tests/bench/bundle.ts bundles the same way from this value.
 */
import { builtinSpecs } from "@nexus/agents/specs";
import { readBuiltinSpec } from "@nexus/core/agents";
import { embeddedDashboard } from "@nexus/dashboard/build";
import type { FunctionProps } from "sst/constructs";

export const NODEJS_BUNDLING = {
  format: "esm",
  splitting: true,
  minify: true,
} as const satisfies NonNullable<FunctionProps["nodejs"]>;

/**
 * The API function's bundling: the same, with the dashboard's files (built from packages/dashboard/ui by esbuild when
 * the stack is synthesized) embedded as one string constant. Only the dashboard's module reads it, and the API imports
 * that module with the first request for a dashboard page: a JSON request's cold start never loads it. The built-in
 * agents' specs are embedded too, as JSON, already read as registration reads them (packages/agents/src/bundled-specs.ts):
 * the API's cold start neither builds the agents' zod schemas nor derives JSON Schema from them, and its first request
 * does not check them again.
 */
export function apiBundling() {
  return {
    ...NODEJS_BUNDLING,
    esbuild: {
      define: {
        __NEXUS_DASHBOARD__: JSON.stringify(embeddedDashboard()),
        __NEXUS_BUILTIN_SPECS__: JSON.stringify(JSON.stringify(builtinSpecs.map(readBuiltinSpec))),
      },
    },
  } as const satisfies NonNullable<FunctionProps["nodejs"]>;
}

/** How the function with entry `entry` (e.g. `functions/api.ts`) is bundled. */
export const bundlingOf = (entry: string) => (entry === "functions/api.ts" ? apiBundling() : NODEJS_BUNDLING);
