import { NexusWorker, TaskFailure } from "@nexus/sdk";
import { afterEach, describe, expect, it } from "vitest";
import { apiClient, type Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/**
 * A remote worker's logs: what its handler logs during an attempt goes with the attempt's outcome and is kept as that
 * attempt's logs (`GET /v1/tasks/{id}/logs`), bounded and redacted as the in-process capture is.
 */
const local = useLocalNexus({ agents: [] });

const unique = (base: string) => `${base}-${Math.random().toString(36).slice(2, 8)}`;

async function remoteAgent(actions: Json[]) {
  const id = unique("logs");
  expect((await local.api.post("/v1/agents", { name: id, actions })).status).toBe(201);
  const key = await local.api.post("/v1/keys", { name: `${id}-worker`, role: "agent", agentId: id });
  expect(key.status).toBe(201);
  return { id, key: key.body.key as string };
}

async function submit(agentId: string, action: string, params: Json = {}) {
  const reply = await local.api.post("/v1/tasks", { agentId, action, params });
  expect(reply.status).toBe(202);
  return reply.body;
}

const workers: NexusWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
});

describe("a remote worker's logs", () => {
  it("keeps each attempt's lines (failed and succeeded) with the task, secrets redacted on receipt", async () => {
    const agent = await remoteAgent([{ name: "charge", retry: { maxAttempts: 3, backoffSeconds: 1 } }]);
    const secretKey = `nxk_abcdefghijkl_${"A".repeat(43)}`;
    const echoed: string[] = [];
    const worker = new NexusWorker({
      url: local.nexus.url,
      key: agent.key,
      agentId: agent.id,
      waitSeconds: 1,
      logger: { info: (message) => echoed.push(message) },
      handlers: {
        charge: (params, context) => {
          context.log.info(`charging ${JSON.stringify(params)} on attempt ${context.attempt}`, {
            amount: 3,
            apiKey: "sk_live_not_for_logs",
            nested: { password: "hunter2", note: `sent with Bearer ${"x".repeat(20)}` },
          });
          context.log.debug(`the key was ${secretKey}`);
          if (context.attempt === 1) {
            context.log.error("the gateway timed out", new Error("ETIMEDOUT"));
            throw new TaskFailure("gateway_timeout", "the gateway timed out");
          }
          return { charged: 3 };
        },
      },
    });
    worker.start();
    workers.push(worker);

    const task = await submit(agent.id, "charge", { cents: 300 });
    const done: Json = await local.api.waitForTask(task.id);
    expect(done.status).toBe("succeeded");
    expect(done.attempts).toBe(2);

    const logs: Json = await local.api.get(`/v1/tasks/${task.id}/logs`);
    expect(logs.status).toBe(200);
    expect(logs.body.attempts.map((a: Json) => a.attempt)).toEqual([1, 2]);
    const [first, second] = logs.body.attempts as Json[];
    const messages = (attempt: Json) => attempt.lines.map((l: Json) => `${l.level} ${l.message}`);
    expect(messages(first).slice(0, 4)).toEqual([
      "info attempt 1 of 3 started: charge",
      'info charging {"cents":300} on attempt 1',
      "debug the key was [redacted]",
      "error the gateway timed out",
    ]);
    expect(messages(first)[4]).toMatch(/^warn attempt 1 failed in \d+ ms: gateway_timeout: the gateway timed out$/);
    expect(messages(second)[1]).toBe('info charging {"cents":300} on attempt 2');
    expect(messages(second).at(-1)).toMatch(/^info attempt 2 succeeded in \d+ ms$/);
    const charged = first.lines[1];
    expect(JSON.parse(charged.data)).toEqual({
      amount: 3,
      apiKey: "[redacted]",
      nested: { password: "[redacted]", note: "sent with [redacted]" },
    });
    expect(JSON.parse(first.lines[3].data)).toEqual({ name: "Error", message: "ETIMEDOUT" });
    expect(JSON.stringify(logs.body)).not.toMatch(/sk_live|hunter2|AAAAAAAA|xxxxxxxx/);
    expect(Date.parse(first.startedAt)).toBeLessThanOrEqual(Date.parse(first.endedAt));
    // The worker's sink saw the lines as they happened (unredacted: it is the worker's own output).
    expect(echoed).toContain("attempt 2 of 3 started: charge");
  });

  it("keeps the newest 200 lines of a chatty attempt within 64 KB, counting the rest", async () => {
    const agent = await remoteAgent([{ name: "chatty" }]);
    const worker = new NexusWorker({
      url: local.nexus.url,
      key: agent.key,
      agentId: agent.id,
      waitSeconds: 1,
      handlers: {
        chatty: (_params, context) => {
          for (let i = 0; i < 500; i++) context.log.info(`line ${i} ${"y".repeat(400)}`);
          return null;
        },
      },
    });
    worker.start();
    workers.push(worker);
    const task = await submit(agent.id, "chatty");
    expect((await local.api.waitForTask(task.id)).status).toBe("succeeded");
    const [attempt] = (await local.api.get(`/v1/tasks/${task.id}/logs`)).body.attempts as Json[];
    const lines = attempt?.lines as Json[];
    expect(lines.length).toBeLessThanOrEqual(200);
    expect(lines.length).toBeGreaterThan(100);
    expect(JSON.stringify(lines).length).toBeLessThan(70 * 1024);
    expect(attempt?.dropped).toBe(502 - lines.length);
    expect(lines.at(-1)?.message).toMatch(/^attempt 1 succeeded in/);
    expect(lines.at(-2)?.message).toMatch(/^line 499 /);
  });

  it("refuses a malformed log report with a 400 naming the field, and leaves the task as it was", async () => {
    const agent = await remoteAgent([{ name: "work" }]);
    const task = await submit(agent.id, "work");
    const api = apiClient(local.nexus.url, agent.key);
    const claimed = await api.post(`/v1/agents/${agent.id}/tasks/claim`, { waitSeconds: 5 });
    const [held] = claimed.body.tasks as Json[];
    const bad = await api.post(`/v1/tasks/${task.id}/complete`, {
      leaseToken: held?.leaseToken,
      result: { ok: true },
      logs: { lines: [{ at: "yesterday", level: "loud", message: "x" }] },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("logs");
    expect((await local.api.get(`/v1/tasks/${task.id}`)).body.status).toBe("running");
    const good = await api.post(`/v1/tasks/${task.id}/complete`, {
      leaseToken: held?.leaseToken,
      result: { ok: true },
      logs: { lines: [{ at: new Date().toISOString(), level: "info", message: "done by hand" }] },
    });
    expect(good.status).toBe(200);
    const logs = (await local.api.get(`/v1/tasks/${task.id}/logs`)).body;
    expect(logs.attempts[0].lines.map((l: Json) => l.message)).toEqual(["done by hand"]);
  });
});
