import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { NexusWorker, type NexusWorkerOptions, TaskFailure } from "@nexus/sdk";
import { afterEach, describe, expect, it } from "vitest";
import { apiClient, type Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/** The runtime's clock: real time plus a skew the lease tests move forward (never back). */
let skewMs = 0;
const local = useLocalNexus({ now: () => new Date(Date.now() + skewMs) });

const unique = (base: string) => `${base}-${Math.random().toString(36).slice(2, 8)}`;
const types = (task: Json) => task.events.map((e: { type: string }) => e.type);

/** A new custom agent, and an HTTP client holding a key bound to it (what a remote worker is given). */
async function remoteAgent(actions: Json[] = [{ name: "work" }]) {
  const id = unique("remote");
  const agent = await local.api.post("/v1/agents", { name: id, actions });
  expect(agent.status).toBe(201);
  const key = await local.api.post("/v1/keys", { name: `${id}-worker`, role: "agent", agentId: id });
  expect(key.status).toBe(201);
  return { id, key: key.body.key as string, queue: agent.body.queue, api: apiClient(local.nexus.url, key.body.key) };
}
type RemoteAgent = Awaited<ReturnType<typeof remoteAgent>>;

async function submit(agentId: string, action: string, params: Json = {}) {
  const reply = await local.api.post("/v1/tasks", { agentId, action, params });
  expect(reply.status).toBe(202);
  return reply.body;
}

/** One claim over HTTP with the agent's key; fails the test unless it returns exactly one task. */
async function claimOne(agent: RemoteAgent, input: Json = {}) {
  const reply = await agent.api.post(`/v1/agents/${agent.id}/tasks/claim`, { waitSeconds: 5, ...input });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  expect(reply.body.tasks).toHaveLength(1);
  return reply.body.tasks[0];
}

/**
 * The dead-letter record of a task: read from the agent's DLQ, or from the failures inbox when the runtime's
 * ingestion (every few seconds) has moved it there first.
 */
async function deadLetter(agent: RemoteAgent, taskId: string): Promise<Json> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const out = await local.nexus.ctx.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: agent.queue.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const letter = (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? "{}")).find((l) => l.taskId === taskId);
    if (letter) return letter;
    const inbox = await local.api.get(`/v1/failures?agentId=${agent.id}`);
    const failure = inbox.body.items?.find((f: Json) => f.taskId === taskId);
    if (failure) return failure;
  }
  throw new Error(`no dead letter for task ${taskId}`);
}

async function until(condition: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const workers: NexusWorker[] = [];
function startWorker(agent: RemoteAgent, options: Omit<NexusWorkerOptions, "url" | "key" | "agentId">) {
  const worker = new NexusWorker({ url: local.nexus.url, key: agent.key, agentId: agent.id, ...options });
  worker.start();
  workers.push(worker);
  return worker;
}
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
});

describe("remote agents: a worker anywhere, over HTTPS with an agent key", () => {
  it("runs a custom agent's tasks on a NexusWorker and records them like any task", async () => {
    const agent = await remoteAgent([{ name: "add" }, { name: "shout" }]);
    const contexts: Json[] = [];
    startWorker(agent, {
      concurrency: 2,
      handlers: {
        add: async (params, context) => {
          contexts.push({ taskId: context.taskId, attempt: context.attempt, maxAttempts: context.maxAttempts });
          const { a, b } = params as { a: number; b: number };
          return { sum: a + b };
        },
        shout: (params) => ({ text: (params as { text: string }).text.toUpperCase() }),
      },
    });

    const submitted = [
      await submit(agent.id, "add", { a: 1, b: 2 }),
      await submit(agent.id, "add", { a: 20, b: 22 }),
      await submit(agent.id, "shout", { text: "hello" }),
    ];
    const done = await Promise.all(submitted.map((task) => local.api.waitForTask(task.id, undefined, 15_000)));

    expect(done.map((task) => task.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(done.map((task) => task.result)).toEqual([{ sum: 3 }, { sum: 42 }, { text: "HELLO" }]);
    for (const task of done) {
      expect(task.attempts).toBe(1);
      expect(types(task)).toEqual(["queued", "started", "succeeded"]);
    }
    expect(contexts).toContainEqual({ taskId: submitted[0].id, attempt: 1, maxAttempts: 3 });
    // The lease is the worker's secret: the task the API shows carries neither token nor lease.
    expect(JSON.stringify(done)).not.toMatch(/leaseToken|leaseUntil/);
    // The worker also tells the API it is alive.
    expect((await local.api.get(`/v1/agents/${agent.id}`)).body.lastHeartbeatAt).toEqual(expect.any(String));
  });

  it("retries a retriable failure with backoff, then succeeds; a non-retriable one fails at once into the DLQ", async () => {
    const agent = await remoteAgent([
      { name: "flaky", retry: { maxAttempts: 3, backoffSeconds: 1 } },
      { name: "broken", retry: { maxAttempts: 3, backoffSeconds: 1 } },
    ]);
    startWorker(agent, {
      handlers: {
        flaky: (_params, context) => {
          if (context.attempt === 1) throw new TaskFailure("upstream_busy", "the upstream said 503");
          return { attempt: context.attempt };
        },
        broken: () => {
          throw Object.assign(new Error("the invoice has no lines"), { code: "bad_invoice", retriable: false });
        },
      },
    });

    const flaky = await submit(agent.id, "flaky");
    const broken = await submit(agent.id, "broken");
    const [retried, failed] = await Promise.all([
      local.api.waitForTask(flaky.id, undefined, 15_000),
      local.api.waitForTask(broken.id, undefined, 15_000),
    ]);

    expect(retried.status).toBe("succeeded");
    expect(retried.attempts).toBe(2);
    expect(retried.result).toEqual({ attempt: 2 });
    expect(types(retried)).toEqual(["queued", "started", "attempt_failed", "started", "succeeded"]);
    const attemptFailed = retried.events.find((e: Json) => e.type === "attempt_failed");
    expect(attemptFailed.error).toEqual({ code: "upstream_busy", message: "the upstream said 503", retriable: true });
    expect(attemptFailed.retryInSeconds).toBeGreaterThanOrEqual(0);
    expect(retried.error).toBeNull();

    expect(failed.status).toBe("failed");
    expect(failed.attempts).toBe(1);
    expect(failed.error).toEqual({ code: "bad_invoice", message: "the invoice has no lines", retriable: false });
    expect(await deadLetter(agent, broken.id)).toMatchObject({ taskId: broken.id, agentId: agent.id, attempts: 1 });
  });

  it("puts a task whose lease ran out back on the queue; the next claim runs attempt 2 and the stale lease gets 409s", async () => {
    const agent = await remoteAgent();
    const task = await submit(agent.id, "work", { n: 1 });
    const first = await claimOne(agent, { leaseSeconds: 10 });
    expect(first).toMatchObject({ id: task.id, action: "work", params: { n: 1 }, attempt: 1, maxAttempts: 3 });
    expect(Date.parse(first.leaseUntil) - (Date.now() + skewMs)).toBeGreaterThan(8_000);

    // The worker vanishes: its lease runs out and the sweeper puts the task back on the queue.
    skewMs += 11_000;
    const swept = await local.nexus.sweep(1_000);
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    const requeued = (await local.api.get(`/v1/tasks/${task.id}`)).body;
    expect(requeued.status).toBe("queued");
    expect(requeued.events.at(-1)).toMatchObject({ type: "requeued", attempt: 1 });

    const second = await claimOne(agent);
    expect(second).toMatchObject({ id: task.id, attempt: 2 });
    expect(second.leaseToken).not.toBe(first.leaseToken);

    // The first worker comes back late: everything it sends is refused and changes nothing.
    const stale = { leaseToken: first.leaseToken };
    for (const [action, body] of [
      ["complete", { ...stale, result: { late: true } }],
      ["fail", { ...stale, error: { code: "late", message: "too late" } }],
      ["extend", stale],
    ] as const) {
      const reply = await agent.api.post(`/v1/tasks/${task.id}/${action}`, body);
      expect(reply.status, action).toBe(409);
      expect(reply.body.error).toMatchObject({ code: "lease_lost", details: { status: "running" } });
    }
    const running = (await local.api.get(`/v1/tasks/${task.id}`)).body;
    expect(running).toMatchObject({ status: "running", attempts: 2 });

    const completed = await agent.api.post(`/v1/tasks/${task.id}/complete`, {
      leaseToken: second.leaseToken,
      result: { fresh: true },
    });
    expect(completed.status).toBe(200);
    expect(completed.body).toMatchObject({ id: task.id, status: "succeeded", attempts: 2, result: { fresh: true } });
    // A retried completion (its reply was lost) is answered again; the stale one still cannot overwrite.
    const again = await agent.api.post(`/v1/tasks/${task.id}/complete`, { leaseToken: second.leaseToken, result: 1 });
    expect(again.status).toBe(200);
    const late = await agent.api.post(`/v1/tasks/${task.id}/complete`, { ...stale, result: { late: true } });
    expect(late.status).toBe(409);
    const final = (await local.api.get(`/v1/tasks/${task.id}`)).body;
    expect(final).toMatchObject({ status: "succeeded", attempts: 2, result: { fresh: true } });
    expect(types(final)).toEqual(["queued", "started", "requeued", "started", "succeeded"]);
  });

  it("keeps a long task alive by extending its lease while the handler runs", async () => {
    const agent = await remoteAgent([{ name: "long" }]);
    let extensions = 0;
    const counting: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (String(input).endsWith("/extend") && response.ok) extensions++;
      return response;
    };
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    startWorker(agent, {
      leaseSeconds: 10,
      fetch: counting,
      handlers: {
        long: async () => {
          await released;
          return { done: true };
        },
      },
    });
    const task = await submit(agent.id, "long");
    try {
      await until(() => extensions >= 1); // a third into the 10 s lease

      // Past the first lease's end, within the extended one: the sweeper leaves the task with its worker.
      skewMs += 8_500;
      await local.nexus.sweep(1_000);
      expect((await local.api.get(`/v1/tasks/${task.id}`)).body).toMatchObject({ status: "running", attempts: 1 });
    } finally {
      release(); // (stopping the worker waits for its handler)
    }

    const done = await local.api.waitForTask(task.id);
    expect(done).toMatchObject({ status: "succeeded", attempts: 1, result: { done: true } });
    expect(types(done)).toEqual(["queued", "started", "succeeded"]);
  });

  it("extends a lease over HTTP: the new end is leaseSeconds from now", async () => {
    const agent = await remoteAgent();
    const task = await submit(agent.id, "work");
    const claimed = await claimOne(agent, { leaseSeconds: 10 });
    const reply = await agent.api.post(`/v1/tasks/${task.id}/extend`, {
      leaseToken: claimed.leaseToken,
      leaseSeconds: 600,
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: task.id, attempt: 1 });
    const ahead = Date.parse(reply.body.leaseUntil) - (Date.now() + skewMs);
    expect(ahead).toBeGreaterThan(590_000);
    expect(ahead).toBeLessThanOrEqual(600_000);
    const done = await agent.api.post(`/v1/tasks/${task.id}/complete`, { leaseToken: claimed.leaseToken });
    expect(done.body).toMatchObject({ status: "succeeded", result: null });
  });

  it("fails a task whose result does not fit, as the Lambda worker does (422, not retriable)", async () => {
    const agent = await remoteAgent();
    const task = await submit(agent.id, "work");
    const claimed = await claimOne(agent);
    let deep: Json = "bottom";
    for (let i = 0; i < 30; i++) deep = { deeper: deep };
    const reply = await agent.api.post(`/v1/tasks/${task.id}/complete`, {
      leaseToken: claimed.leaseToken,
      result: deep,
    });
    expect(reply.status).toBe(422);
    expect(reply.body.error).toMatchObject({ code: "result_too_deep", details: { field: "result" } });
    const failed = (await local.api.get(`/v1/tasks/${task.id}`)).body;
    expect(failed).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "result_too_deep", retriable: false },
    });
  });

  it("keeps agent keys to their own agent, refuses built-in agents and bad input, and gives inactive agents nothing", async () => {
    const mine = await remoteAgent();
    const theirs = await remoteAgent();
    const theirTask = await submit(theirs.id, "work");

    const foreign = await mine.api.post(`/v1/agents/${theirs.id}/tasks/claim`, { waitSeconds: 0 });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe("forbidden");
    const token = { leaseToken: "a-token-that-is-long-enough" };
    for (const [action, body] of [
      ["complete", { ...token, result: 1 }],
      ["fail", { ...token, error: { code: "x", message: "x" } }],
      ["extend", token],
    ] as const) {
      const reply = await mine.api.post(`/v1/tasks/${theirTask.id}/${action}`, body);
      expect(reply.status, action).toBe(404);
      expect(reply.body.error.code).toBe("not_found");
    }
    expect((await mine.api.get(`/v1/tasks/${theirTask.id}`)).status).toBe(404);
    expect(await claimOne(theirs, { waitSeconds: 0 })).toMatchObject({ id: theirTask.id, attempt: 1 });

    const builtin = await local.api.post("/v1/agents/diag/tasks/claim", { waitSeconds: 0 });
    expect(builtin.status).toBe(409);
    expect(builtin.body.error.code).toBe("builtin_agent");

    const paths = (reply: Json) => reply.body.error.details.map((d: Json) => d.path);
    const tooMany = await mine.api.post(`/v1/agents/${mine.id}/tasks/claim`, { max: 11, waitSeconds: 0 });
    expect(tooMany.status).toBe(400);
    expect(paths(tooMany)).toContain("max");
    const noToken = await mine.api.post(`/v1/tasks/${theirTask.id}/complete`, { result: 1 });
    expect(noToken.status).toBe(400);
    expect(paths(noToken)).toContain("leaseToken");
    const badCode = await mine.api.post(`/v1/tasks/${theirTask.id}/fail`, {
      ...token,
      error: { code: "has spaces", message: "x" },
    });
    expect(badCode.status).toBe(400);
    expect(paths(badCode)).toContain("error.code");

    const waiting = await submit(mine.id, "work");
    expect((await local.api.post(`/v1/agents/${mine.id}/deactivate`)).status).toBe(200);
    const idle = await mine.api.post(`/v1/agents/${mine.id}/tasks/claim`, { waitSeconds: 1 });
    expect(idle.status).toBe(200);
    expect(idle.body.tasks).toEqual([]);
    expect((await local.api.post(`/v1/agents/${mine.id}/reactivate`)).status).toBe(200);
    expect(await claimOne(mine)).toMatchObject({ id: waiting.id, attempt: 1 });
  });

  it("stops gracefully: no more claims, and the task in flight finishes and is reported", async () => {
    const agent = await remoteAgent();
    let started = false;
    const worker = startWorker(agent, {
      handlers: {
        work: async () => {
          started = true;
          await new Promise((resolve) => setTimeout(resolve, 500));
          return { finished: true };
        },
      },
    });
    const task = await submit(agent.id, "work");
    await until(() => started);

    await worker.stop();
    expect(worker.running).toBe(false);
    expect((await local.api.get(`/v1/tasks/${task.id}`)).body).toMatchObject({
      status: "succeeded",
      result: { finished: true },
    });
    const later = await submit(agent.id, "work");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await local.api.get(`/v1/tasks/${later.id}`)).body.status).toBe("queued");
    await local.api.post(`/v1/tasks/${later.id}/cancel`);
  });

  it("runs a plan step on a remote worker and reports to the plan, success and failure alike", async () => {
    const agent = await remoteAgent([{ name: "quote" }, { name: "refuse", retry: { maxAttempts: 1 } }]);
    startWorker(agent, {
      handlers: {
        quote: (params) => ({ item: (params as { item: string }).item, price: 42 }),
        refuse: () => {
          throw new TaskFailure("out_of_stock", "nothing left", { retriable: false });
        },
      },
    });

    const created = await local.api.post("/v1/plans", {
      name: unique("remote-plan"),
      steps: [
        { id: "quote", agentId: agent.id, action: "quote", params: { item: "tea" } },
        {
          id: "echo",
          agentId: "diag",
          action: "echo",
          params: { price: "{{steps.quote.result.price}}" },
          dependsOn: ["quote"],
        },
      ],
    });
    expect(created.status).toBe(201);
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    const quote = plan.steps.find((s: Json) => s.id === "quote");
    expect(quote).toMatchObject({ status: "succeeded", attempts: 1, result: { item: "tea", price: 42 } });
    expect(plan.steps.find((s: Json) => s.id === "echo").result).toEqual({ price: 42 });
    expect((await local.api.get(`/v1/tasks/${quote.taskId}`)).body).toMatchObject({
      planId: plan.id,
      stepId: "quote",
      agentId: agent.id,
    });

    const refused = await local.api.post("/v1/plans", {
      steps: [{ id: "buy", agentId: agent.id, action: "refuse" }],
    });
    const failed = await local.api.waitForPlan(refused.body.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({ stepId: "buy", code: "out_of_stock" });
  });
});
