import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

const local = useLocalNexus();

const unique = (base: string) => `${base}-${Math.random().toString(36).slice(2, 8)}`;

async function dlqMessages(dlqUrl: string) {
  const out = await local.nexus.ctx.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? "{}"));
}

describe("tasks flow end to end over HTTP", () => {
  it("answers health with a request id on every response", async () => {
    const reply = await local.api.get("/v1/health");
    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe("ok");
    expect(reply.headers.get("x-request-id")).toMatch(/\S{8,}/);
    const missing = await local.api.get("/v1/nope");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("x-request-id")).toMatch(/\S{8,}/);
    expect(missing.body.error.code).toBe("not_found");
  });

  it("registers diag as a built-in agent under its fixed id", async () => {
    const reply = await local.api.get("/v1/agents/diag");
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: "diag", name: "diag", builtin: true, status: "active" });
    expect(reply.body.actions.map((a: { name: string }) => a.name)).toEqual(["echo", "sleep", "fail", "health"]);
    expect(reply.body.queue.url).toContain("nexus-local-agent-diag");
  });

  it("runs diag echo: submit → queued → succeeded with the params as result", async () => {
    const submitted = await local.api.post("/v1/tasks", {
      agentId: "diag",
      action: "echo",
      params: { hello: "world", n: 1 },
    });
    expect(submitted.status).toBe(202);
    expect(submitted.body.status).toBe("queued");
    expect(submitted.headers.get("location")).toBe(`/v1/tasks/${submitted.body.id}`);
    const task = await local.api.waitForTask(submitted.body.id);
    expect(task.status).toBe("succeeded");
    expect(task.result).toEqual({ hello: "world", n: 1 });
    expect(task.attempts).toBe(1);
    expect(task.events.map((e: { type: string }) => e.type)).toEqual(["queued", "started", "succeeded"]);
    expect(Date.parse(task.finishedAt)).toBeGreaterThanOrEqual(Date.parse(task.startedAt));
  });

  it("replays an idempotency key: same task, no second run; a different request with it is a 409", async () => {
    const key = unique("order");
    const first = await local.api.post("/v1/tasks", {
      agentId: "diag",
      action: "echo",
      params: { a: 1 },
      idempotencyKey: key,
    });
    const second = await local.api.post("/v1/tasks", {
      agentId: "diag",
      action: "echo",
      params: { a: 1 },
      idempotencyKey: key,
    });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    const done = await local.api.waitForTask(first.body.id);
    expect(done.attempts).toBe(1);
    const third = await local.api.post("/v1/tasks", {
      agentId: "diag",
      action: "echo",
      params: { a: 2 },
      idempotencyKey: key,
    });
    expect(third.status).toBe(409);
    expect(third.body.error.code).toBe("idempotency_conflict");
    const page = await local.api.get("/v1/tasks?agentId=diag&limit=100");
    expect(page.body.items.filter((t: { idempotencyKey: string }) => t.idempotencyKey === key)).toHaveLength(1);
  });

  it("retries retriable failures with backoff, then succeeds (fail times: 2)", async () => {
    const submitted = await local.api.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 2 } });
    const task = await local.api.waitForTask(submitted.body.id);
    expect(task.status).toBe("succeeded");
    expect(task.attempts).toBe(3);
    expect(task.result).toEqual({ attempt: 3, failedBefore: 2 });
    const types = task.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(["queued", "started", "attempt_failed", "started", "attempt_failed", "started", "succeeded"]);
    const failures = task.events.filter((e: { type: string }) => e.type === "attempt_failed");
    expect(failures[0].error).toMatchObject({ code: "drill_failure", retriable: true });
    expect(failures[0].retryInSeconds).toBeGreaterThanOrEqual(1);
    expect(task.error).toBeNull();
  });

  it("fails a task whose retries run out, with its last error, and dead-letters it", async () => {
    const submitted = await local.api.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 10 } });
    const task = await local.api.waitForTask(submitted.body.id);
    expect(task.status).toBe("failed");
    expect(task.attempts).toBe(3);
    expect(task.error).toMatchObject({ code: "drill_failure", retriable: true });
    expect(task.error.message).toContain("attempt 3");
    expect(task.events.at(-1)).toMatchObject({ type: "failed", attempt: 3 });
    const agent = await local.api.get("/v1/agents/diag");
    const letters = await dlqMessages(agent.body.queue.dlqUrl);
    expect(letters).toContainEqual(expect.objectContaining({ taskId: task.id, attempts: 3, agentId: "diag" }));
  });

  it("fails a non-retriable error after one attempt", async () => {
    const submitted = await local.api.post("/v1/tasks", {
      agentId: "diag",
      action: "fail",
      params: { times: 1, retriable: false },
    });
    const task = await local.api.waitForTask(submitted.body.id);
    expect(task.status).toBe("failed");
    expect(task.attempts).toBe(1);
    expect(task.error).toEqual({ code: "drill_failure", message: expect.any(String), retriable: false });
  });

  it("acknowledges a redelivered message for a finished task without running it again", async () => {
    const submitted = await local.api.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 0 } });
    const done = await local.api.waitForTask(submitted.body.id);
    const queueUrl = (await local.api.get("/v1/agents/diag")).body.queue.url;
    for (const attempt of [1, 2, undefined]) {
      await local.nexus.ctx.sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ taskId: done.id, attempt }) }),
      );
    }
    // a marker task submitted after the duplicates finishes after they were consumed (FIFO enough for one poller)
    const marker = await local.api.post("/v1/tasks", { agentId: "diag", action: "sleep", params: { ms: 300 } });
    await local.api.waitForTask(marker.body.id);
    await new Promise((r) => setTimeout(r, 500));
    const after = (await local.api.get(`/v1/tasks/${done.id}`)).body;
    expect(after.attempts).toBe(1);
    expect(after.events).toEqual(done.events);
    expect(after.updatedAt).toBe(done.updatedAt);
  });

  it("does not run a task twice when a duplicate arrives while it runs", async () => {
    const submitted = await local.api.post("/v1/tasks", { agentId: "diag", action: "sleep", params: { ms: 1500 } });
    await local.api.waitForTask(submitted.body.id, ["running"]);
    const queueUrl = (await local.api.get("/v1/agents/diag")).body.queue.url;
    await local.nexus.ctx.sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ taskId: submitted.body.id }) }),
    );
    const task = await local.api.waitForTask(submitted.body.id);
    expect(task.status).toBe("succeeded");
    expect(task.attempts).toBe(1);
    expect(task.events.filter((e: { type: string }) => e.type === "started")).toHaveLength(1);
  });

  it("lists tasks newest first by agent, by status, and both, with working cursors", async () => {
    const agent = await local.api.post("/v1/agents", {
      name: unique("lister"),
      actions: [{ name: "noop", params: { type: "object" } }],
    });
    expect(agent.status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const t = await local.api.post("/v1/tasks", { agentId: agent.body.id, action: "noop", params: { i } });
      ids.push(t.body.id);
    }
    const seen: string[] = [];
    const cursors: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/tasks?agentId=${agent.body.id}&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page: Json = await local.api.get(query);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((t: { id: string }) => t.id));
      cursor = page.body.nextCursor;
      if (cursor) cursors.push(cursor);
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());

    const queued = await local.api.get(`/v1/tasks?agentId=${agent.body.id}&status=queued&limit=100`);
    expect(queued.body.items.map((t: { id: string }) => t.id)).toEqual([...ids].reverse());
    const none = await local.api.get(`/v1/tasks?agentId=${agent.body.id}&status=succeeded`);
    expect(none.body.items).toEqual([]);

    const byStatus = await local.api.get("/v1/tasks?status=queued&limit=100");
    expect(byStatus.body.items.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining(ids));
    expect(byStatus.body.items.every((t: { status: string }) => t.status === "queued")).toBe(true);
    const all = await local.api.get("/v1/tasks?limit=3");
    const createdAt = all.body.items.map((t: { createdAt: string }) => t.createdAt);
    expect(createdAt).toEqual([...createdAt].sort().reverse());

    // a real cursor from the agent's listing is no cursor for the status listing
    const foreign = await local.api.get(`/v1/tasks?status=queued&cursor=${cursors[0]}`);
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.details).toMatchObject({ field: "cursor" });
  });

  it("cancels a queued task; cancelling again is a 409", async () => {
    const agent = await local.api.post("/v1/agents", { name: unique("idle"), actions: [{ name: "work" }] });
    const task = await local.api.post("/v1/tasks", { agentId: agent.body.id, action: "work" });
    const cancelled = await local.api.post(`/v1/tasks/${task.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expect(cancelled.body.events.at(-1).type).toBe("cancelled");
    const again = await local.api.post(`/v1/tasks/${task.body.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("task_finished");
  });
});

describe("custom agents", () => {
  it("registers an agent with its own queue and DLQ (redrive, bounded receives)", async () => {
    const name = unique("billing");
    const reply = await local.api.post("/v1/agents", {
      name,
      description: "Bills customers",
      actions: [
        {
          name: "charge",
          params: {
            type: "object",
            properties: { cents: { type: "integer", minimum: 1 }, currency: { enum: ["EUR", "USD"] } },
            required: ["cents", "currency"],
            additionalProperties: false,
          },
          retry: { maxAttempts: 5 },
        },
      ],
    });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ id: name, name, kind: "custom", builtin: false, status: "active" });
    expect(reply.body.actions[0].retry).toEqual({ maxAttempts: 5, backoffSeconds: 2, maxBackoffSeconds: 300 });
    const attrs = await local.nexus.ctx.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: reply.body.queue.url, AttributeNames: ["All"] }),
    );
    const redrive = JSON.parse(attrs.Attributes?.RedrivePolicy ?? "{}");
    expect(redrive.deadLetterTargetArn).toBe(reply.body.queue.dlqArn);
    expect(Number(redrive.maxReceiveCount)).toBeLessThanOrEqual(10);
    expect(Number(attrs.Attributes?.VisibilityTimeout)).toBeGreaterThanOrEqual(360);

    const again = await local.api.post("/v1/agents", { name, actions: [{ name: "charge" }] });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("agent_exists");
    const builtin = await local.api.post("/v1/agents", { name: "diag", actions: [{ name: "x" }] });
    expect(builtin.status).toBe(409);

    const bad = await local.api.post("/v1/tasks", {
      agentId: name,
      action: "charge",
      params: { cents: 0, currency: "GBP" },
    });
    expect(bad.status).toBe(400);
    const paths = bad.body.error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["params.cents", "params.currency"]));

    await local.nexus.attachWorker(name, { charge: async (params) => ({ charged: params }) });
    const ok = await local.api.post("/v1/tasks", {
      agentId: name,
      action: "charge",
      params: { cents: 500, currency: "EUR" },
    });
    expect(ok.status).toBe(202);
    const done = await local.api.waitForTask(ok.body.id);
    expect(done.status).toBe("succeeded");
    expect(done.result).toEqual({ charged: { cents: 500, currency: "EUR" } });
    expect(done.maxAttempts).toBe(5);
  });

  it("lists agents by name in pages, including the new one", async () => {
    const name = unique("zz-pager");
    await local.api.post("/v1/agents", { name, actions: [{ name: "a" }] });
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Json = await local.api.get(`/v1/agents?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      names.push(...page.body.items.map((a: { name: string }) => a.name));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(names).toContain(name);
    expect(names).toContain("diag");
    expect(names).toEqual([...names].sort());
  });

  it("answers 409 for an inactive agent and 404 for an unknown one", async () => {
    const name = unique("sleepy");
    await local.api.post("/v1/agents", { name, actions: [{ name: "a" }] });
    await local.nexus.ctx.ddb.send(
      new UpdateCommand({
        TableName: local.nexus.ctx.tableName,
        Key: { PK: `AGENT#${name}`, SK: "AGENT" },
        UpdateExpression: "SET #s = :s",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: { ":s": "inactive" },
      }),
    );
    const inactive = await local.api.post("/v1/tasks", { agentId: name, action: "a" });
    expect(inactive.status).toBe(409);
    expect(inactive.body.error.code).toBe("agent_inactive");
    const unknown = await local.api.post("/v1/tasks", { agentId: "no-such-agent", action: "a" });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("not_found");
    const action = await local.api.post("/v1/tasks", { agentId: "diag", action: "explode" });
    expect(action.status).toBe(400);
    expect(action.body.error.details).toMatchObject({
      field: "action",
      available: ["echo", "sleep", "fail", "health"],
    });
  });
});
