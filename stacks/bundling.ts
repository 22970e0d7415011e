/**
 * How every Nexus function is bundled: SST v2 bundles a Node function with esbuild as ESM (target esnext, SDK
 * included); on top of that, code splitting and minification. With `splitting`, what a function loads with `import()`
 * (clients and code few invocations need) becomes chunks of its own, read on first use rather than with the handler's
 * module at cold start. Light on purpose (no CDK): tests/bench/bundle.ts bundles the same way from this value.
 */
import type { FunctionProps } from "sst/constructs";

export const NODEJS_BUNDLING = {
  format: "esm",
  splitting: true,
  minify: true,
} as const satisfies NonNullable<FunctionProps["nodejs"]>;
