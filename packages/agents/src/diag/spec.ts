import type { AgentSpec } from "@nexus/core";
import * as Health from "@nexus/core/health";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { builtinSpec, paramsSchemaOf } from "../schema.js";

export const MAX_SLEEP_MS = 30_000;

export const EchoParams = /* @__PURE__ */ pure(() => z.record(z.string(), z.unknown()));
export const SleepParams = /* @__PURE__ */ pure(() =>
  z.strictObject({ ms: z.number().int().min(0).max(MAX_SLEEP_MS) }),
);
export const FailParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    times: z.number().int().min(0).max(100).describe("How many attempts fail before one succeeds"),
    retriable: z.boolean().default(true),
  }),
);

/** `diag`: a canary agent for smoke checks and fault drills. */
export const diagSpec: AgentSpec = builtinSpec(
  {
    id: "diag",
    kind: "diag",
    description: "Canary agent for smoke checks and fault drills",
  },
  () => [
    {
      name: "echo",
      description: "Returns its params",
      params: { type: "object", description: "Any JSON object; returned as it came" },
      retry: { maxAttempts: 3, backoffSeconds: 1, maxBackoffSeconds: 30 },
      timeoutSeconds: 10,
    },
    {
      name: "sleep",
      description: `Waits ms milliseconds (at most ${MAX_SLEEP_MS})`,
      params: paramsSchemaOf(SleepParams),
      retry: { maxAttempts: 3, backoffSeconds: 1, maxBackoffSeconds: 30 },
      timeoutSeconds: 45,
    },
    {
      name: "fail",
      description: "Fails its first `times` attempts, then succeeds; retriable decides whether they are retried",
      params: paramsSchemaOf(FailParams),
      retry: { maxAttempts: 3, backoffSeconds: 1, maxBackoffSeconds: 30 },
      timeoutSeconds: 10,
    },
    Health.actionSpec(10, "Checks that the agent runs (it depends on nothing else)"),
  ],
);
