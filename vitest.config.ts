import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // The SDK's package points at its build (what `npm pack` ships); tests run its TypeScript sources, as the
  // "@nexus/source" export condition does for tsc and tsx.
  resolve: { alias: { "@nexus/sdk": fileURLToPath(new URL("packages/sdk/src/index.ts", import.meta.url)) } },
  test: {
    include: ["tests/**/*.test.ts", "packages/*/src/**/*.test.ts", "functions/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // The SDK warns at every client that its releases after January 2027 need Node 22; the locked ones run here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    reporters: ["default", "./tests/support/summary-reporter.ts"],
  },
});
