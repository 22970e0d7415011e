/**
 * Scaling controls on the local runtime: a built-in agent runs with the maximum concurrency and batch size that
 * `NEXUS_AGENT_SCALING` gives it (the setting the stack turns into its event source mapping), and a remote worker
 * runs at most its `concurrency` tasks at once.
 */
import { NexusWorker } from "@nexus/sdk";
import { afterEach, describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

const DIAG_CONCURRENCY = 2;
const local = useLocalNexus({
  // As an operator writes it for `sst deploy` and `npm run dev` alike.
  agentScaling: JSON.stringify({ diag: { maxConcurrency: DIAG_CONCURRENCY, batchSize: 1 } }),
});

async function submit(agentId: string, action: string, params: Json = {}) {
  const reply = await local.api.post("/v1/tasks", { agentId, action, params });
  expect(reply.status, JSON.stringify(reply.body)).toBe(202);
  return reply.body as { id: string };
}

/** The most intervals that hold at one instant (an interval ending as another starts does not overlap it). */
function mostAtOnce(intervals: Array<[number, number]>) {
  const edges = intervals.flatMap(([start, end]) => [
    [start, 1],
    [end, -1],
  ]);
  // Ends before starts at the same instant.
  edges.sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
  let now = 0;
  let most = 0;
  for (const [, step] of edges) {
    now += step as number;
    most = Math.max(most, now);
  }
  return most;
}

const workers: NexusWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
});

describe("scaling controls on the local runtime", () => {
  it("runs no more of a built-in agent's batches at once than its configured maximum concurrency", async () => {
    const tasks = await Promise.all(Array.from({ length: 8 }, () => submit("diag", "sleep", { ms: 400 })));
    const done = await Promise.all(tasks.map((task) => local.api.waitForTask(task.id, undefined, 30_000)));

    expect(done.map((task) => task.status)).toEqual(tasks.map(() => "succeeded"));
    // Each task ran in a batch of its own (batchSize 1), from its start to its success.
    const intervals = done.map((task): [number, number] => {
      const at = (type: string) => Date.parse(task.events.find((e: { type: string }) => e.type === type).at);
      return [at("started"), at("succeeded")];
    });
    expect(mostAtOnce(intervals)).toBe(DIAG_CONCURRENCY);
  });

  it("runs at most a NexusWorker's concurrency of tasks at once, and that many while there is work", async () => {
    const id = `scaled-${Math.random().toString(36).slice(2, 8)}`;
    expect((await local.api.post("/v1/agents", { name: id, actions: [{ name: "work" }] })).status).toBe(201);
    const key = await local.api.post("/v1/keys", { name: `${id}-worker`, role: "agent", agentId: id });
    expect(key.status).toBe(201);
    const seen = { running: 0, most: 0, ran: 0 };
    const worker = new NexusWorker({
      url: local.nexus.url,
      key: key.body.key,
      agentId: id,
      concurrency: 3,
      waitSeconds: 1,
      heartbeatSeconds: 0,
      handlers: {
        work: async () => {
          seen.running++;
          seen.most = Math.max(seen.most, seen.running);
          await new Promise((resolve) => setTimeout(resolve, 300));
          seen.running--;
          seen.ran++;
          return { ok: true };
        },
      },
    });

    const tasks = await Promise.all(Array.from({ length: 10 }, () => submit(id, "work")));
    worker.start();
    workers.push(worker);
    const done = await Promise.all(tasks.map((task) => local.api.waitForTask(task.id, undefined, 30_000)));

    expect(done.map((task) => task.status)).toEqual(tasks.map(() => "succeeded"));
    expect(seen.ran).toBe(10);
    expect(seen.most).toBe(3);
  });
});
