import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SFNClient, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import * as Tasks from "@nexus/core/tasks";
import { type LocalNexus, type LocalOptions, startLocal } from "@nexus/local";
import { afterAll, describe, expect, it } from "vitest";
import { apiClient, type Json } from "../support/client.js";

/**
 * What the local runtime recovers at start: its queues and its Step Functions executions live in memory, so a
 * stop (here with no grace for the batches in flight, as a crash would leave them) loses every message and
 * every execution, while tasks and plans stay on disk.
 */
const dirs: string[] = [];
const running = new Set<LocalNexus>();

afterAll(async () => {
  for (const nexus of running) await nexus.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir() {
  const dir = mkdtempSync(join(tmpdir(), "nexus-recovery-"));
  dirs.push(dir);
  return dir;
}

async function start(dir: string, options: LocalOptions = {}) {
  const nexus = await startLocal({
    port: 0,
    dataDir: dir,
    logLevel: "SILENT",
    stopGraceMs: 0,
    ...options,
    settings: { rateLimitPerMinute: 1_000_000 },
  });
  running.add(nexus);
  return { nexus, api: apiClient(nexus.url, nexus.adminKey) };
}

async function stop(nexus: LocalNexus) {
  await nexus.stop();
  running.delete(nexus);
}

const step = (plan: Json, id: string) => plan.steps.find((s: Json) => s.id === id);
const types = (body: Json) => body.events.map((e: Json) => e.type);

describe("plans survive a restart", () => {
  it("a plan stopped while its first step runs resumes and finishes as it would have", async () => {
    const dir = dataDir();
    const first = await start(dir);
    const created = await first.api.post("/v1/plans", {
      steps: [
        { id: "slow", agentId: "diag", action: "sleep", params: { ms: 1500 } },
        {
          id: "next",
          agentId: "diag",
          action: "echo",
          params: { after: "{{steps.slow.result.sleptMs}}" },
          dependsOn: ["slow"],
        },
      ],
    });
    expect(created.status).toBe(201);
    const dispatched = await first.api.waitUntil(`/v1/plans/${created.body.id}`, (p) =>
      Boolean(step(p, "slow").taskId),
    );
    await first.api.waitForTask(step(dispatched, "slow").taskId, ["running"]);
    await stop(first.nexus);

    const second = await start(dir);
    expect(second.nexus.recovery.plans.resumed).toBe(1);
    const plan = await second.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    expect(step(plan, "next").result).toEqual({ after: 1500 });
    // The same task ran the first step (put back on its queue at start), not a second one.
    const slow = await second.api.get(`/v1/tasks/${step(plan, "slow").taskId}`);
    expect(types(slow.body)).toEqual(["queued", "started", "requeued", "started", "succeeded"]);
    const tasks = await second.api.get("/v1/tasks?agentId=diag&limit=100");
    expect(tasks.body.items.filter((t: Json) => t.planId === created.body.id)).toHaveLength(2);
    await stop(second.nexus);
  });

  it("a plan stopped at an approval gate waits again after the restart, and goes on when approved", async () => {
    const dir = dataDir();
    const first = await start(dir);
    const created = await first.api.post("/v1/plans", {
      steps: [
        { id: "draft", agentId: "diag", action: "echo", params: { draft: true } },
        { id: "gate", kind: "approval", message: "Send?", dependsOn: ["draft"] },
        { id: "send", agentId: "diag", action: "echo", params: { sent: true }, dependsOn: ["gate"] },
      ],
    });
    await first.api.waitForPlan(created.body.id, ["waiting_approval"]);
    await stop(first.nexus);

    const second = await start(dir);
    const waiting = await second.api.waitForPlan(created.body.id, ["waiting_approval"]);
    expect(step(waiting, "draft").status).toBe("succeeded");
    const approved = await second.api.post(`/v1/plans/${created.body.id}/steps/gate/approve`, { comment: "go" });
    expect(approved.status).toBe(200);
    const plan = await second.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    expect(step(plan, "send").result).toEqual({ sent: true });
    // The succeeded step kept its one task.
    const diagTasks = await second.api.get("/v1/tasks?agentId=diag&limit=100");
    expect(diagTasks.body.items.filter((t: Json) => t.planId === created.body.id)).toHaveLength(2);
    await stop(second.nexus);
  });

  it("stopped twice in a row, a plan still finishes once", async () => {
    const dir = dataDir();
    let current = await start(dir);
    const created = await current.api.post("/v1/plans", {
      steps: [
        { id: "a", agentId: "diag", action: "sleep", params: { ms: 800 } },
        { id: "b", agentId: "diag", action: "sleep", params: { ms: 800 }, dependsOn: ["a"] },
        { id: "c", agentId: "diag", action: "echo", params: { done: true }, dependsOn: ["b"] },
      ],
    });
    for (const id of ["a", "b"]) {
      await current.api.waitUntil(`/v1/plans/${created.body.id}`, (p) => step(p, id).status === "running");
      await stop(current.nexus);
      current = await start(dir);
    }
    const plan = await current.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    expect(plan.events.filter((e: Json) => e.type === "succeeded")).toHaveLength(1);
    expect(plan.steps.map((s: Json) => s.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    await stop(current.nexus);
  });
});

describe("a plan step that cannot be dispatched fails its plan, and the runtime lives", () => {
  it("its agent deactivated while an earlier step ran: the plan fails with agent_inactive", async () => {
    const local = await start(dataDir());
    const name = `later-${Date.now().toString(36)}`;
    expect((await local.api.post("/v1/agents", { name, actions: [{ name: "work" }] })).status).toBe(201);
    await local.nexus.attachWorker(name, { work: async () => ({ worked: true }) });
    const created = await local.api.post("/v1/plans", {
      steps: [
        { id: "first", agentId: "diag", action: "sleep", params: { ms: 1000 } },
        { id: "second", agentId: name, action: "work", params: {}, dependsOn: ["first"] },
      ],
    });
    await local.api.waitUntil(`/v1/plans/${created.body.id}`, (p) => step(p, "first").status === "running");
    expect((await local.api.post(`/v1/agents/${name}/deactivate`)).status).toBe(200);

    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("failed");
    expect(plan.error).toMatchObject({ stepId: "second", code: "agent_inactive" });
    expect((await local.api.get("/v1/health")).status).toBe(200);
    await stop(local.nexus);
  });

  it("its templated params too large once resolved: the plan fails with payload_too_large", async () => {
    const local = await start(dataDir());
    // 42 references to a 250 KB text: 10.5 MB once resolved, over the 10 MB a task's params may have.
    const references = Object.fromEntries(Array.from({ length: 42 }, (_, i) => [`r${i}`, "{{steps.big.result.text}}"]));
    const created = await local.api.post("/v1/plans", {
      steps: [
        { id: "big", agentId: "diag", action: "echo", params: { text: "x".repeat(250_000) } },
        { id: "twice", agentId: "diag", action: "echo", params: references, dependsOn: ["big"] },
      ],
    });
    expect(created.status).toBe(201);
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("failed");
    expect(plan.error).toMatchObject({ stepId: "twice", code: "payload_too_large" });
    const after = await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { alive: true } });
    expect((await local.api.waitForTask(after.body.id)).status).toBe("succeeded");
    await stop(local.nexus);
  });

  it("an execution stopped outside Nexus is settled by the sweeper, naming why", async () => {
    const local = await start(dataDir());
    const created = await local.api.post("/v1/plans", {
      steps: [{ id: "gate", kind: "approval", message: "Go?" }],
    });
    const waiting = await local.api.waitForPlan(created.body.id, ["waiting_approval"]);
    const sfn = new SFNClient({
      endpoint: local.nexus.endpoints.stepFunctions,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    await sfn.send(new StopExecutionCommand({ executionArn: waiting.executionArn, cause: "stopped from the console" }));
    sfn.destroy();
    expect((await local.api.get(`/v1/plans/${created.body.id}`)).body.status).toBe("waiting_approval");

    const swept = await local.nexus.sweep();
    expect(swept.plans.settled).toBe(1);
    const plan = (await local.api.get(`/v1/plans/${created.body.id}`)).body;
    expect(plan.status).toBe("failed");
    expect(plan.error.code).toBe("execution_aborted");
    expect(plan.error.message).toContain("stopped from the console");
    expect(step(plan, "gate").status).toBe("cancelled");
    await stop(local.nexus);
  });
});

describe("start-up recovery of tasks", () => {
  it("puts back every unfinished task, in pages, however many there are", async () => {
    const dir = dataDir();
    const first = await start(dir);
    const name = `bulk-${Date.now().toString(36)}`;
    expect((await first.api.post("/v1/agents", { name, actions: [{ name: "work" }] })).status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 3000; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          Tasks.submit(first.nexus.ctx, { agentId: name, action: "work", params: { i: i + j } }),
        ),
      );
      ids.push(...batch.map((b) => b.task.id));
    }
    await stop(first.nexus);

    const second = await start(dir);
    expect(second.nexus.recovery.tasks).toMatchObject({ scanned: 3000, requeued: 3000, failed: 0 });
    const agent = await second.api.get(`/v1/agents/${name}`);
    const depth = await second.nexus.ctx.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: agent.body.queue.url,
        AttributeNames: ["ApproximateNumberOfMessages"],
      }),
    );
    expect(Number(depth.Attributes?.ApproximateNumberOfMessages)).toBe(3000);
    const last = await second.api.get(`/v1/tasks/${ids.at(-1)}`);
    expect(types(last.body)).toEqual(["queued", "requeued"]);
    await stop(second.nexus);
  });

  it("finishes before the consumers start: no task started by this process is pulled back", async () => {
    const dir = dataDir();
    const first = await start(dir, { concurrency: 1 });
    const submitted = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        first.api.post("/v1/tasks", { agentId: "diag", action: "sleep", params: { ms: 100 + (i % 5) } }),
      ),
    );
    // some run, most wait on the queue
    await first.api.waitForTask(submitted[0]?.body.id, ["running", "succeeded"]);
    await stop(first.nexus);

    const second = await start(dir, { concurrency: 4 });
    expect(second.nexus.recovery.tasks.requeued).toBeGreaterThan(0);
    for (const reply of submitted) {
      const task = await second.api.waitForTask(reply.body.id, ["succeeded", "failed"], 60_000);
      expect(task.status).toBe("succeeded");
      // At most one attempt lost with the old process, and its requeue came before this process started anything.
      const events: string[] = types(task);
      expect(events.filter((t) => t === "requeued").length).toBeLessThanOrEqual(1);
      const fresh = Math.max(events.lastIndexOf("requeued"), events.lastIndexOf("queued"));
      expect(events.slice(fresh + 1)).toEqual(["started", "succeeded"]);
    }
    await stop(second.nexus);
  });

  it("leaves a remote worker's live lease alone, so the worker's result still counts", async () => {
    const dir = dataDir();
    const first = await start(dir);
    const name = `remote-${Date.now().toString(36)}`;
    expect((await first.api.post("/v1/agents", { name, actions: [{ name: "work" }] })).status).toBe(201);
    const key = await first.api.post("/v1/keys", { name: `${name}-worker`, role: "agent", agentId: name });
    const submitted = await first.api.post("/v1/tasks", { agentId: name, action: "work", params: {} });
    const worker = apiClient(first.nexus.url, key.body.key);
    const claim = await worker.post(`/v1/agents/${name}/tasks/claim`, { waitSeconds: 5, leaseSeconds: 120 });
    expect(claim.body.tasks).toHaveLength(1);
    await stop(first.nexus);

    const second = await start(dir);
    const still = await second.api.get(`/v1/tasks/${submitted.body.id}`);
    expect(still.body.status).toBe("running");
    const again = apiClient(second.nexus.url, key.body.key);
    const done = await again.post(`/v1/tasks/${submitted.body.id}/complete`, {
      leaseToken: claim.body.tasks[0].leaseToken,
      result: { ok: true },
    });
    expect(done.status).toBe(200);
    const task = await second.api.get(`/v1/tasks/${submitted.body.id}`);
    expect(task.body).toMatchObject({ status: "succeeded", attempts: 1, result: { ok: true } });
    await stop(second.nexus);
  });

  it("puts a dead remote worker's task back within seconds of its lease running out", async () => {
    const local = await start(dataDir(), { sweepIntervalMs: 500 });
    const name = `gone-${Date.now().toString(36)}`;
    expect((await local.api.post("/v1/agents", { name, actions: [{ name: "work" }] })).status).toBe(201);
    const submitted = await local.api.post("/v1/tasks", { agentId: name, action: "work", params: {} });
    const claim = await local.api.post(`/v1/agents/${name}/tasks/claim`, { waitSeconds: 5, leaseSeconds: 10 });
    expect(claim.body.tasks).toHaveLength(1);
    // The worker dies: nobody extends or reports. Lease 10 s, grace 5 s, a sweep every 0.5 s.
    const back = await local.api.waitUntil(
      `/v1/tasks/${submitted.body.id}`,
      (t) => t.status === "queued" && types(t).includes("requeued"),
      30_000,
    );
    expect(back.attempts).toBe(1);
    const reclaimed = await local.api.post(`/v1/agents/${name}/tasks/claim`, { waitSeconds: 5 });
    expect(reclaimed.body.tasks[0]).toMatchObject({ id: submitted.body.id, attempt: 2 });
    await stop(local.nexus);
  });
});
