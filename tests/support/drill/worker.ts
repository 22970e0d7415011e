import { appendFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { NexusWorker } from "@nexus/sdk";

/**
 * A remote worker (`NexusWorker`) as a process of its own, for fault drills that kill it with SIGKILL. Its one
 * action records every execution (start and end, task and attempt) in DRILL_LOG. Prints a line when it runs.
 */
const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const log = env("DRILL_LOG");

const worker = new NexusWorker({
  url: env("DRILL_URL"),
  key: env("DRILL_KEY"),
  agentId: env("DRILL_AGENT"),
  concurrency: 10,
  leaseSeconds: 10,
  waitSeconds: 1,
  heartbeatSeconds: 0,
  backoff: { initialMs: 100, maxMs: 500 },
  handlers: {
    work: async (params, context) => {
      const { ms } = params as { ms: number };
      appendFileSync(log, `start ${context.taskId} ${context.attempt}\n`);
      await sleep(ms);
      appendFileSync(log, `end ${context.taskId} ${context.attempt}\n`);
      return { attempt: context.attempt };
    },
  },
});
worker.start();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
