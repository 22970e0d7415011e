import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { NonRetriableError } from "@nexus/core";
import { beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

const local = useLocalNexus({ agents: [], failureIngestIntervalMs: 60_000 });

/** The custom agent's worker: fails while `broken`, and refuses params without `ok: true`. */
const state = { broken: true };

beforeAll(async () => {
  const reply = await local.api.post("/v1/agents", {
    name: "billing",
    actions: [
      {
        name: "charge",
        params: { type: "object", properties: { amount: { type: "integer" }, ok: { type: "boolean" } } },
        retry: { maxAttempts: 1 },
      },
    ],
  });
  expect(reply.status).toBe(201);
  await local.nexus.attachWorker("billing", {
    charge: async (params) => {
      const { ok, amount } = params as { ok?: boolean; amount?: number };
      if (state.broken || !ok) throw new NonRetriableError("declined", `charge of ${amount} declined`);
      return { charged: amount };
    },
  });
});

async function failedCharge(amount: number) {
  const submitted = await local.api.post("/v1/tasks", { agentId: "billing", action: "charge", params: { amount } });
  const task = await local.api.waitForTask(submitted.body.id);
  expect(task.status).toBe("failed");
  return task;
}

/** The inbox's failures of a task, open or redriven. */
async function failuresOf(taskId: string): Promise<Json[]> {
  const found: Json[] = [];
  for (const status of ["open", "redriven"]) {
    const page = await local.api.get(`/v1/failures?agentId=billing&status=${status}&limit=100`);
    found.push(...page.body.items.filter((f: Json) => f.taskId === taskId));
  }
  return found;
}

const dlqDepth = async (agentId: string) => (await local.api.get(`/v1/agents/${agentId}`)).body.health.dlqDepth;

describe("the failures inbox", () => {
  it("lists a task that failed for good at once; the ingestion pass does not add it again", async () => {
    await local.nexus.ingestFailures(); // what earlier tests left behind
    // No ingestion pass runs during this file (its interval is a minute): the worker recorded it.
    const task = await failedCharge(7);
    const [failure] = await failuresOf(task.id);
    expect(failure).toMatchObject({
      id: `flr_${task.id}`,
      source: "task",
      status: "open",
      error: { code: "declined" },
    });
    expect(failure.failedAt).toBe(task.finishedAt);
    expect((await local.api.get(`/v1/failures/${failure.id}`)).body).toEqual(failure);
    // Its record is in the DLQ too (a dead letter, as the agent's health shows); ingesting it adds nothing.
    expect(await dlqDepth("billing")).toBe(1);
    expect(await local.nexus.ingestFailures()).toBe(0);
    expect(await dlqDepth("billing")).toBe(0);
    expect(await failuresOf(task.id)).toEqual([failure]);

    // A duplicate delivery of the task's message finds it failed and recorded: nothing changes, nothing is sent.
    const queue = (await local.api.get("/v1/agents/billing")).body.queue.url;
    const redeliver = (attempt?: number) =>
      local.nexus.ctx.sqs.send(
        new SendMessageCommand({ QueueUrl: queue, MessageBody: JSON.stringify({ taskId: task.id, attempt }) }),
      );
    await redeliver(1);
    await redeliver();
    await local.api.waitUntil("/v1/agents/billing", (agent) => agent.health.queueDepth === 0, 10_000);
    expect(await failuresOf(task.id)).toEqual([failure]);
    expect(await dlqDepth("billing")).toBe(0);
    expect((await local.api.get(`/v1/tasks/${task.id}`)).body).toMatchObject({ status: "failed", attempts: 1 });

    // The worker stopped between failing the task and recording it (the record is gone): a redelivery records it.
    await local.nexus.ctx.ddb.send(
      new DeleteCommand({ TableName: local.nexus.ctx.tableName, Key: { PK: `FAILURE#${failure.id}`, SK: "FAILURE" } }),
    );
    expect(await failuresOf(task.id)).toEqual([]);
    await redeliver(1);
    const listed = (page: Json) => page.items.some((f: Json) => f.taskId === task.id);
    await local.api.waitUntil("/v1/failures?agentId=billing&limit=100", listed, 10_000);
    expect(await failuresOf(task.id)).toEqual([failure]);
  });

  it("lists a failed task, then redrives it with edited params", async () => {
    const task = await failedCharge(10);
    const inbox = await local.api.get("/v1/failures?agentId=billing");
    const failure = inbox.body.items.find((f: Json) => f.taskId === task.id);
    expect(failure).toMatchObject({
      id: `flr_${task.id}`,
      source: "task",
      agentId: "billing",
      action: "charge",
      status: "open",
      attempts: 1,
      error: { code: "declined" },
    });

    state.broken = false;
    const bad = await local.api.post(`/v1/failures/${failure.id}/redrive`, { params: { amount: "ten" } });
    expect(bad.status).toBe(400); // edited params are validated like any task's
    const redriven = await local.api.post(`/v1/failures/${failure.id}/redrive`, { params: { amount: 10, ok: true } });
    expect(redriven.status).toBe(201);
    expect(redriven.body.failure).toMatchObject({ status: "redriven", redrivenBy: "bootstrap" });
    expect(redriven.body.task).toMatchObject({ redriveOf: task.id, params: { amount: 10, ok: true } });
    const done = await local.api.waitForTask(redriven.body.task.id);
    expect(done).toMatchObject({ status: "succeeded", result: { charged: 10 } });

    // Never duplicated: the same request returns the same task; other params are a conflict.
    const again = await local.api.post(`/v1/failures/${failure.id}/redrive`, { params: { amount: 10, ok: true } });
    expect(again.status).toBe(201);
    expect(again.body.task.id).toBe(redriven.body.task.id);
    const other = await local.api.post(`/v1/failures/${failure.id}/redrive`, { params: { amount: 11, ok: true } });
    expect(other.status).toBe(409);
    const open = await local.api.get("/v1/failures?agentId=billing");
    expect(open.body.items.map((f: Json) => f.id)).not.toContain(failure.id);
    const closed = await local.api.get("/v1/failures?agentId=billing&status=redriven");
    expect(closed.body.items.map((f: Json) => f.id)).toContain(failure.id);
    state.broken = true;
  });

  it("redrives an agent's open failures in bulk, once each", async () => {
    const tasks = [await failedCharge(1), await failedCharge(2)];
    state.broken = false;
    const bulk = await local.api.post("/v1/failures/redrive", { agentId: "billing", max: 10 });
    expect(bulk.status).toBe(200);
    const ids = tasks.map((t) => `flr_${t.id}`);
    expect(bulk.body.redriven.map((r: Json) => r.failureId)).toEqual(expect.arrayContaining(ids));
    // Their params had no ok: true, so the new tasks fail again, and land in the inbox as new failures.
    for (const r of bulk.body.redriven) await local.api.waitForTask(r.taskId);
    const second = await local.api.post("/v1/failures/redrive", { agentId: "billing", max: 10 });
    expect(second.body.redriven.map((r: Json) => r.failureId)).not.toEqual(expect.arrayContaining(ids));
    state.broken = true;
  });

  it("ingests messages a queue dead-lettered, and puts a still-open task's message back on its queue", async () => {
    await local.nexus.ingestFailures(); // what earlier tests left behind
    // An agent with no worker yet: its task stays queued, as when a consumer kept failing on its message.
    await local.api.post("/v1/agents", { name: "ledger", actions: [{ name: "post" }] });
    const agent = await local.api.get("/v1/agents/ledger");
    const task = await local.api.post("/v1/tasks", { agentId: "ledger", action: "post", params: { n: 1 } });
    const dlq = agent.body.queue.dlqUrl;
    // What SQS moves to the DLQ after five receives, and a message that names no task.
    await local.nexus.ctx.sqs.send(
      new SendMessageCommand({ QueueUrl: dlq, MessageBody: JSON.stringify({ taskId: task.body.id, attempt: 1 }) }),
    );
    await local.nexus.ctx.sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: "garbage" }));
    expect(await local.nexus.ingestFailures()).toBe(2);
    const inbox = await local.api.get("/v1/failures?agentId=ledger");
    const lost = inbox.body.items.find((f: Json) => f.taskId === task.body.id);
    expect(lost).toMatchObject({ source: "message", action: "post", error: { code: "dead_lettered" } });
    const orphan = inbox.body.items.find((f: Json) => f.taskId === null);
    expect((await local.api.post(`/v1/failures/${orphan.id}/redrive`)).status).toBe(409);

    const redriven = await local.api.post(`/v1/failures/${lost.id}/redrive`);
    expect(redriven.status).toBe(201);
    expect(redriven.body.task).toBeNull(); // the same task, its message back on the queue
    // Drain the original message too: the task runs once, whichever message comes first.
    await local.nexus.attachWorker("ledger", { post: async (params) => ({ posted: params }) });
    const done = await local.api.waitForTask(task.body.id);
    expect(done).toMatchObject({ status: "succeeded", attempts: 1 });
    expect((await local.api.post(`/v1/failures/${lost.id}/redrive`)).status).toBe(409);
  });

  it("refuses to redrive a plan's step (the plan is retried instead), and answers 404/400 for bad input", async () => {
    const plan = await local.api.post("/v1/plans", {
      steps: [{ id: "pay", agentId: "billing", action: "charge", params: { amount: 3 } }],
    });
    const failedPlan = await local.api.waitForPlan(plan.body.id);
    expect(failedPlan.status).toBe("failed");
    await local.nexus.ingestFailures();
    const taskId = failedPlan.steps[0].taskId;
    const failure = await local.api.get(`/v1/failures/flr_${taskId}`);
    expect(failure.body.planId).toBe(plan.body.id);
    const refused = await local.api.post(`/v1/failures/flr_${taskId}/redrive`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("plan_step");
    expect((await local.api.get("/v1/failures/flr_nope")).status).toBe(404);
    expect((await local.api.get("/v1/failures?status=closed")).status).toBe(400);
    expect((await local.api.post("/v1/failures/redrive", { agentId: "nobody-here" })).status).toBe(404);
    expect((await local.api.post("/v1/failures/redrive", {})).status).toBe(400);
  });
});
