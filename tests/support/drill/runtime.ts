import { appendFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentImplementation } from "@nexus/core";
import { startLocal } from "@nexus/local";

/**
 * The local runtime as a process of its own, for fault drills that kill it with SIGKILL. Besides the usual parts it
 * runs one in-process agent, `drill`, whose action records every execution (start and end, task and attempt) in
 * DRILL_LOG before and after it works for `ms` milliseconds. Prints one JSON line on stdout when it is ready.
 */
const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const log = env("DRILL_LOG");

const drillAgent: AgentImplementation = {
  spec: {
    id: "drill",
    kind: "drill",
    description: "Records every execution of its action, for fault drills",
    actions: [
      {
        name: "work",
        description: "Works for `ms` milliseconds",
        params: {
          type: "object",
          properties: { ms: { type: "integer", minimum: 0, maximum: 5000 }, n: { type: "integer" } },
          required: ["ms"],
        },
        retry: { maxAttempts: 10, backoffSeconds: 1, maxBackoffSeconds: 2 },
        timeoutSeconds: 30,
      },
    ],
  },
  handlers: () => ({
    work: async (params, context) => {
      const { ms } = params as { ms: number };
      appendFileSync(log, `start ${context.taskId} ${context.attempt}\n`);
      await sleep(ms, undefined, { signal: context.signal });
      appendFileSync(log, `end ${context.taskId} ${context.attempt}\n`);
      return { attempt: context.attempt };
    },
  }),
};

const nexus = await startLocal({
  dataDir: env("DRILL_DIR"),
  port: Number(env("DRILL_PORT")),
  adminKey: env("DRILL_ADMIN_KEY"),
  logLevel: "ERROR",
  agents: [drillAgent],
  standIns: [],
  concurrency: 4,
  sweepIntervalMs: 1000,
  leaseGraceMs: 2000,
  failureIngestIntervalMs: 600_000,
  settings: { rateLimitPerMinute: 10_000_000 },
});
process.stdout.write(`${JSON.stringify({ ready: true, url: nexus.url, recovery: nexus.recovery })}\n`);
