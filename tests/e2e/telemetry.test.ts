import type { Dimensions, MetricName } from "@nexus/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";
import { captureOutput } from "../support/output.js";

/**
 * Telemetry of the local runtime: the same metrics as in AWS, recorded in process (what the local alarms and the
 * dashboard read), and the same JSON log records with their ids, from real traffic through the API, the pollers, the
 * plan state machine, the failures inbox and the sweeper.
 */
let output: ReturnType<typeof captureOutput>;
beforeAll(() => {
  output = captureOutput();
});
afterAll(() => {
  output?.restore();
});
const local = useLocalNexus({ logLevel: "INFO", sweepIntervalMs: 3_600_000, probeIntervalMs: 3_600_000 });

const since = Date.now();
const sum = (name: MetricName, dimensions?: Dimensions) =>
  local.nexus.metrics.sum({ name, since, ...(dimensions ? { dimensions } : {}) });
const points = (name: MetricName) => local.nexus.metrics.query({ name, since });
const diag = { Agent: "diag" };

describe("the local runtime's metrics", () => {
  it("count tasks by outcome per agent, time them, and count their dead letters", async () => {
    const echo = await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { n: 1 } });
    const flaky = await local.api.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 1 } });
    const doomed = await local.api.post("/v1/tasks", {
      agentId: "diag",
      action: "fail",
      params: { times: 5, retriable: false },
    });
    expect((await local.api.waitForTask(echo.body.id)).status).toBe("succeeded");
    expect((await local.api.waitForTask(flaky.body.id)).status).toBe("succeeded");
    expect((await local.api.waitForTask(doomed.body.id)).status).toBe("failed");

    // A task's outcome is counted once its write returns to the poller, which may be just after a reader sees it.
    expect(sum("TasksSubmitted", diag)).toBe(3);
    await expect.poll(() => sum("TasksSucceeded", diag)).toBe(2);
    await expect.poll(() => sum("TasksRetried", diag)).toBe(1);
    await expect.poll(() => sum("TasksFailed", diag)).toBe(1);
    // One duration per attempt that ended (echo, flaky twice, doomed), one queued time per task.
    await expect.poll(() => points("TaskDuration").filter((p) => p.dimensions.Agent === "diag")).toHaveLength(4);
    expect(points("TaskQueuedTime").filter((p) => p.dimensions.Agent === "diag")).toHaveLength(3);
    for (const p of [...points("TaskDuration"), ...points("TaskQueuedTime")]) {
      expect(p.unit).toBe("Milliseconds");
      expect(p.value).toBeGreaterThanOrEqual(0);
    }

    await local.api.waitUntil("/v1/agents/diag", (agent) => agent.health.dlqDepth >= 1, 10_000);
    await local.nexus.ingestFailures();
    expect(sum("DlqArrivals", diag)).toBe(1);
    // Ingesting again finds nothing new: a dead letter counts once.
    await local.nexus.ingestFailures();
    expect(sum("DlqArrivals", diag)).toBe(1);
  });

  it("count plan runs by outcome", async () => {
    const ok = await local.api.post("/v1/plans", {
      steps: [{ id: "only", agentId: "diag", action: "echo", params: {} }],
    });
    const bad = await local.api.post("/v1/plans", {
      steps: [{ id: "only", agentId: "diag", action: "fail", params: { times: 5, retriable: false } }],
    });
    expect((await local.api.waitForPlan(ok.body.id)).status).toBe("succeeded");
    expect((await local.api.waitForPlan(bad.body.id)).status).toBe("failed");
    // A run is counted once its settling write returns to the runner, which may be just after a reader sees it.
    await expect.poll(() => sum("PlanRunsSucceeded")).toBe(1);
    await expect.poll(() => sum("PlanRunsFailed")).toBe(1);
    expect(points("PlanRunsSucceeded").map((p) => p.dimensions)).toEqual([{}]);
  });

  it("count API responses by status class and time them", async () => {
    const before = { ok: sum("ApiRequests", { StatusClass: "2xx" }), bad: sum("ApiRequests", { StatusClass: "4xx" }) };
    const latencies = points("ApiLatency").length;
    expect((await local.api.get("/v1/agents/diag")).status).toBe(200);
    expect((await local.api.get("/v1/agents/nobody-here")).status).toBe(404);
    expect((await local.api.post("/v1/tasks", { agentId: "diag" })).status).toBe(400);
    expect(sum("ApiRequests", { StatusClass: "2xx" }) - before.ok).toBe(1);
    expect(sum("ApiRequests", { StatusClass: "4xx" }) - before.bad).toBe(2);
    expect(points("ApiLatency").length - latencies).toBe(3);
    expect(points("ApiLatency").every((p) => p.unit === "Milliseconds" && Object.keys(p.dimensions).length === 0)).toBe(
      true,
    );
  });

  it("count agents online at each health check, and each agent's state", async () => {
    // diag is heard of once probed; an agent never heard of gives no AgentOnline (no offline alarm to fire).
    await local.nexus.probe();
    const from = Date.now();
    await local.nexus.sweep();
    const online = local.nexus.metrics.query({ name: "AgentOnline", since: from });
    expect(online.map((p) => p.dimensions.Agent)).toContain("diag");
    expect(local.nexus.metrics.query({ name: "AgentsOnline", since: from }).map((p) => p.value)).toEqual([
      online.filter((p) => p.value === 1).length,
    ]);
  });
});

describe("the local runtime's log", () => {
  it("writes JSON records carrying the request, task, agent and attempt ids", async () => {
    output.clear();
    const task = await local.api.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 1 } });
    await local.api.waitForTask(task.body.id);
    // "task succeeded" is written once the write returns to the poller, which may be just after a reader sees it.
    const of = (message: string) =>
      output.logRecords().find((r: Json) => r.message === message && r.taskId === task.body.id);
    await expect.poll(() => of("task succeeded")).toBeDefined();
    expect(of("task submitted")).toMatchObject({ service: "nexus-local", agentId: "diag", action: "fail" });
    expect(of("task submitted")?.requestId).toEqual(task.headers.get("x-request-id"));
    expect(of("attempt failed; retry scheduled")).toMatchObject({
      level: "WARN",
      service: "nexus-agent-diag",
      agentId: "diag",
      attempt: 1,
      attemptId: `${task.body.id}#1`,
    });
    expect(of("task succeeded")).toMatchObject({ agentId: "diag", attempt: 2, attemptId: `${task.body.id}#2` });
  });

  it("writes a remote worker's completion with the task's ids, and counts it for the agent", async () => {
    await local.api.post("/v1/agents", { name: "telemetry-remote", actions: [{ name: "work" }] });
    const task = await local.api.post("/v1/tasks", { agentId: "telemetry-remote", action: "work", params: {} });
    const claimed = await local.api.post("/v1/agents/telemetry-remote/tasks/claim", { waitSeconds: 5 });
    const [held] = claimed.body.tasks;
    expect(held.id).toBe(task.body.id);
    output.clear();
    const done = await local.api.post(`/v1/tasks/${task.body.id}/complete`, { leaseToken: held.leaseToken, result: 1 });
    expect(done.status).toBe(200);
    expect(output.logRecords().find((r) => r.message === "task succeeded")).toMatchObject({
      requestId: done.headers.get("x-request-id"),
      taskId: task.body.id,
      agentId: "telemetry-remote",
      attemptId: `${task.body.id}#1`,
      remote: true,
    });
    expect(sum("TasksSucceeded", { Agent: "telemetry-remote" })).toBe(1);
    // Its claim started the first attempt: the time it waited is recorded for its agent.
    expect(points("TaskQueuedTime").filter((p) => p.dimensions.Agent === "telemetry-remote")).toHaveLength(1);
  });
});
