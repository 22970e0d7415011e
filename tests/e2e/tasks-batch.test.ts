import { describe, expect, it } from "vitest";
import { PRICES } from "../../packages/core/src/prices.js";
import { sendTaskMessages } from "../../packages/core/src/queues.js";
import { NexusClient } from "../../packages/sdk/src/client.js";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/** `POST /v1/tasks/batch`: many tasks in one request, checked all first, written and enqueued together. */
const local = useLocalNexus({ settings: { dailyCaps: { "diag.sleep": 3, "diag.fail": 1 } } });

/** How many tasks an agent has now (every page). */
async function countOf(agentId: string): Promise<number> {
  let total = 0;
  let cursor: string | null = null;
  do {
    const page: Json = await local.api.get(
      `/v1/tasks?agentId=${agentId}&limit=100${cursor ? `&cursor=${cursor}` : ""}`,
    );
    total += page.body.items.length;
    cursor = page.body.nextCursor;
  } while (cursor);
  return total;
}

describe("submitting tasks in a batch", () => {
  it("queues every task, in the order given, to several agents, and runs them all", async () => {
    const tasks = Array.from({ length: 25 }, (_, i) =>
      i % 5 === 4
        ? { agentId: "ops", action: "list_files", params: { path: "." } }
        : { agentId: "diag", action: "echo", params: { i } },
    );
    const reply = await local.api.post("/v1/tasks/batch", { tasks });
    expect(reply.status).toBe(202);
    const items = reply.body.items as Json[];
    expect(items).toHaveLength(25);
    items.forEach((item, i) => {
      expect(item.replayed).toBe(false);
      expect(item.task).toMatchObject({ agentId: tasks[i]?.agentId, action: tasks[i]?.action, status: "queued" });
      expect(item.task.params).toEqual(tasks[i]?.params);
    });
    expect(new Set(items.map((item) => item.task.id)).size).toBe(25);
    // Its cost estimate shares the request among the batch's tasks.
    expect(items[0]?.task.cost.items.apiGateway).toBeCloseTo(PRICES.apiGatewayHttpRequest / 25, 15);
    for (const [i, item] of items.entries()) {
      const done: Json = await local.api.waitForTask(item.task.id, ["succeeded", "failed"], 30_000);
      expect(done.status, `tasks[${i}]`).toBe("succeeded");
      if (tasks[i]?.agentId === "diag") expect(done.result).toEqual(tasks[i]?.params);
    }
    // Each task's events are in the change feed, as for one submitted alone (the feed lags a second behind now).
    const first = items[0]?.task;
    const queued = new Set<string>();
    const deadline = Date.now() + 15_000;
    let after = "";
    while (items.some((item) => !queued.has(item.task.id)) && Date.now() < deadline) {
      const page: Json = await local.api.get(
        `/v1/events?kind=task&limit=200&${after ? `after=${after}` : `since=${first.createdAt}`}`,
      );
      for (const event of page.body.items as Json[]) if (event.type === "queued") queued.add(event.taskId);
      after = page.body.nextCursor;
      if (page.body.items.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(items.filter((item) => !queued.has(item.task.id))).toEqual([]);
    // One audit record stands for the request.
    const audit: Json = await local.api.get("/v1/audit?action=POST%20/v1/tasks/batch&limit=100");
    expect((audit.body.items as Json[]).filter((r) => r.requestId === reply.headers.get("x-request-id"))).toHaveLength(
      1,
    );
  });

  it("refuses the whole batch when one task would be refused, naming it, and queues nothing", async () => {
    const before = await countOf("diag");
    const cases: Array<[Json, number, string, string]> = [
      [{ agentId: "diag", action: "nope" }, 400, "tasks[2]: ", "tasks[2].action"],
      [{ agentId: "no-such-agent", action: "echo" }, 404, "tasks[2]: ", "tasks[2].agentId"],
      [{ agentId: "diag", action: "sleep", params: { ms: "long" } }, 400, "tasks[2]: ", "tasks[2].params.ms"],
    ];
    for (const [bad, status, message, field] of cases) {
      const echo = { agentId: "diag", action: "echo", params: {} };
      const tasks = [echo, echo, bad];
      const reply = await local.api.post("/v1/tasks/batch", { tasks });
      expect(reply.status).toBe(status);
      expect(reply.body.error.message.startsWith(message)).toBe(true);
      expect(JSON.stringify(reply.body.error.details)).toContain(field);
    }
    // The shape is checked before anything else: no tasks, too many, an unknown field.
    for (const body of [
      { tasks: [] },
      { tasks: Array.from({ length: 101 }, () => ({ agentId: "diag", action: "echo" })) },
      { tasks: [{ agentId: "diag", action: "echo", extra: 1 }] },
      { task: { agentId: "diag", action: "echo" } },
    ]) {
      const reply = await local.api.post("/v1/tasks/batch", body);
      expect(reply.status).toBe(400);
      expect(reply.body.error.code).toBe("validation_error");
    }
    expect(await countOf("diag")).toBe(before);
  });

  it("spends a daily cap for the whole batch at once, or refuses it whole", async () => {
    const sleep = { agentId: "diag", action: "sleep", params: { ms: 1 } };
    const fail = { agentId: "diag", action: "fail", params: { times: 0 } };
    const before = await countOf("diag");
    // Two caps: the second refuses, and the first gives back what the batch spent of it (the 3 below still fit).
    const mixed = await local.api.post("/v1/tasks/batch", { tasks: [sleep, sleep, fail, fail] });
    expect(mixed.status).toBe(429);
    expect(mixed.body.error.message).toContain("diag.fail");
    const over = await local.api.post("/v1/tasks/batch", { tasks: [sleep, sleep, sleep, sleep] });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("daily_cap_reached");
    expect(await countOf("diag")).toBe(before);
    const within = await local.api.post("/v1/tasks/batch", { tasks: [sleep, sleep, sleep] });
    expect(within.status).toBe(202);
    const next = await local.api.post("/v1/tasks/batch", { tasks: [sleep] });
    expect(next.status).toBe(429);
    expect(await countOf("diag")).toBe(before + 3);
  });

  it("replays tasks by their idempotencyKey: a retried batch queues nothing twice", async () => {
    const tasks = [
      { agentId: "diag", action: "echo", params: { k: 1 }, idempotencyKey: "batch-retry-1" },
      { agentId: "diag", action: "echo", params: { k: 2 }, idempotencyKey: "batch-retry-2" },
    ];
    const first = await local.api.post("/v1/tasks/batch", { tasks });
    expect(first.status).toBe(202);
    const before = await countOf("diag");
    const again = await local.api.post("/v1/tasks/batch", { tasks });
    expect(again.status).toBe(202);
    expect(again.body.items.map((item: Json) => item.replayed)).toEqual([true, true]);
    expect(again.body.items.map((item: Json) => item.task.id)).toEqual(
      first.body.items.map((item: Json) => item.task.id),
    );
    expect(await countOf("diag")).toBe(before);
    // A key reused with other params is a conflict, as for one task.
    const changed = await local.api.post("/v1/tasks/batch", { tasks: [{ ...tasks[0], params: { k: 3 } }] });
    expect(changed.status).toBe(409);
  });

  it("reports the tasks whose messages a queue did not take (the sweeper re-sends those)", async () => {
    const missing = `${local.nexus.endpoints.sqs}/000000000000/no-such-queue`;
    const bodies = Array.from({ length: 12 }, (_, i) => ({ taskId: `tsk_missed_${i}`, attempt: 1 }));
    expect(await sendTaskMessages(local.nexus.ctx, missing, bodies)).toEqual(bodies.map((body) => body.taskId));
  });

  it("is in the SDK", async () => {
    const client = new NexusClient({ url: local.nexus.url, key: local.nexus.adminKey });
    const { items } = await client.tasks.submitMany([
      { agentId: "diag", action: "echo", params: { sdk: 1 } },
      { agentId: "diag", action: "echo", params: { sdk: 2 } },
    ]);
    expect(items.map((item) => item.task.params)).toEqual([{ sdk: 1 }, { sdk: 2 }]);
    const done = await local.api.waitForTask(items[1]?.task.id ?? "");
    expect(done.result).toEqual({ sdk: 2 });
  });
});
