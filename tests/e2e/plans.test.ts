import { describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

const local = useLocalNexus();

const step = (plan: Json, id: string) => plan.steps.find((s: Json) => s.id === id);

describe("plans run on the plan state machine", () => {
  it("runs a linear chain, passing outputs from step to step", async () => {
    const created = await local.api.post("/v1/plans", {
      name: "chain",
      steps: [
        { id: "first", agentId: "diag", action: "echo", params: { title: "Hello", nested: { n: 41 } } },
        {
          id: "second",
          agentId: "diag",
          action: "echo",
          params: { greeting: "{{steps.first.result.title}}, world", n: "{{steps.first.result.nested.n}}" },
          dependsOn: ["first"],
        },
        {
          id: "third",
          agentId: "diag",
          action: "echo",
          params: { all: "{{steps.second.result}}" },
          dependsOn: ["second"],
        },
      ],
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/v1/plans/${created.body.id}`);
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    expect(step(plan, "second").result).toEqual({ greeting: "Hello, world", n: 41 });
    expect(step(plan, "third").result).toEqual({ all: { greeting: "Hello, world", n: 41 } });
    for (const s of plan.steps) {
      expect(s).toMatchObject({ status: "succeeded", attempts: 1 });
      const task = await local.api.get(`/v1/tasks/${s.taskId}`);
      expect(task.body).toMatchObject({ planId: plan.id, stepId: s.id, status: "succeeded" });
    }
    const types = plan.events.map((e: Json) => e.type);
    expect(types[0]).toBe("created");
    expect(types.at(-1)).toBe("succeeded");
    expect(types.filter((t: string) => t === "step_succeeded")).toHaveLength(3);
  });
});

describe("plan execution semantics", () => {
  it("fans out and in: independent steps run in parallel, the join waits for all of them", async () => {
    const branches = ["a", "b", "c"].map((id) => ({ id, agentId: "diag", action: "sleep", params: { ms: 1500 } }));
    const created = await local.api.post("/v1/plans", {
      steps: [
        { id: "start", agentId: "diag", action: "echo", params: { go: true } },
        ...branches.map((b) => ({ ...b, dependsOn: ["start"] })),
        { id: "join", agentId: "diag", action: "echo", params: { done: true }, dependsOn: ["a", "b", "c"] },
      ],
    });
    expect(created.status).toBe(201);
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    const [a, b, c, join] = ["a", "b", "c", "join"].map((id) => step(plan, id));
    // The branches overlapped in time: each started before any other finished.
    const latestStart = Math.max(...[a, b, c].map((s) => Date.parse(s.startedAt)));
    const earliestEnd = Math.min(...[a, b, c].map((s) => Date.parse(s.finishedAt)));
    expect(latestStart).toBeLessThan(earliestEnd);
    const lastBranchEnd = Math.max(...[a, b, c].map((s) => Date.parse(s.finishedAt)));
    expect(Date.parse(join.startedAt)).toBeGreaterThanOrEqual(lastBranchEnd);
  });

  it("fails the plan with the failing step's error after its retries; dependents never run", async () => {
    const created = await local.api.post("/v1/plans", {
      steps: [
        {
          id: "flaky",
          agentId: "diag",
          action: "fail",
          params: { times: 10, retriable: true },
          retry: { maxAttempts: 2, backoffSeconds: 0 },
        },
        { id: "after", agentId: "diag", action: "echo", params: {}, dependsOn: ["flaky"] },
      ],
    });
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("failed");
    expect(plan.error).toMatchObject({ stepId: "flaky", code: "drill_failure" });
    expect(step(plan, "flaky")).toMatchObject({ status: "failed", attempts: 2 });
    expect(step(plan, "after")).toMatchObject({ status: "cancelled", taskId: null });
    const task = await local.api.get(`/v1/tasks/${step(plan, "flaky").taskId}`);
    expect(task.body).toMatchObject({ status: "failed", attempts: 2, maxAttempts: 2 });
  });

  it("waits on a wait step before its dependents", async () => {
    const created = await local.api.post("/v1/plans", {
      steps: [
        { id: "pause", kind: "wait", seconds: 1 },
        { id: "then", agentId: "diag", action: "echo", params: {}, dependsOn: ["pause"] },
      ],
    });
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    const pause = step(plan, "pause");
    expect(Date.parse(step(plan, "then").startedAt) - Date.parse(plan.startedAt)).toBeGreaterThanOrEqual(1000);
    expect(pause.status).toBe("succeeded");
  });

  it("fails a step that outlives its timeout, and cancels its task", async () => {
    const created = await local.api.post("/v1/plans", {
      steps: [{ id: "slow", agentId: "diag", action: "sleep", params: { ms: 25_000 }, timeoutSeconds: 10 }],
    });
    const plan = await local.api.waitForPlan(created.body.id, undefined, 40_000);
    expect(plan.status).toBe("failed");
    expect(plan.error).toMatchObject({ stepId: "slow", code: "step_timeout" });
    const task = await local.api.get(`/v1/tasks/${step(plan, "slow").taskId}`);
    expect(task.body.status).toBe("cancelled");
  });
});

describe("approval gates", () => {
  const gated = () =>
    local.api.post("/v1/plans", {
      steps: [
        { id: "prepare", agentId: "diag", action: "echo", params: { draft: "text" } },
        { id: "gate", kind: "approval", message: "Send it?", dependsOn: ["prepare"] },
        { id: "send", agentId: "diag", action: "echo", params: { sent: true }, dependsOn: ["gate"] },
      ],
    });

  it("waits for approval, then goes on", async () => {
    const created = await gated();
    const waiting = await local.api.waitForPlan(created.body.id, ["waiting_approval"]);
    expect(step(waiting, "gate")).toMatchObject({ status: "waiting_approval", message: "Send it?" });
    expect(step(waiting, "send")).toMatchObject({ status: "waiting", taskId: null });
    const approved = await local.api.post(`/v1/plans/${created.body.id}/steps/gate/approve`, { comment: "ok" });
    expect(approved.status).toBe(200);
    expect(step(approved.body, "gate").decidedBy).toBe("bootstrap");
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    expect(step(plan, "send").result).toEqual({ sent: true });
    expect(plan.events.find((e: Json) => e.type === "approved")).toMatchObject({ stepId: "gate", message: "ok" });
    // Decided once: a second decision is a conflict.
    const again = await local.api.post(`/v1/plans/${created.body.id}/steps/gate/approve`);
    expect(again.status).toBe(409);
  });

  it("times a step from when it starts: waiting on a gate longer than its own timeout does not fail it", async () => {
    const created = await local.api.post("/v1/plans", {
      steps: [
        { id: "gate", kind: "approval", message: "Send it?" },
        {
          id: "send",
          agentId: "diag",
          action: "echo",
          params: { sent: true },
          dependsOn: ["gate"],
          timeoutSeconds: 10,
        },
      ],
    });
    expect(created.status).toBe(201);
    await local.api.waitForPlan(created.body.id, ["waiting_approval"]);
    // The decision comes after the dependent step's 10 s: that clock has not started while the step waits.
    await new Promise((r) => setTimeout(r, 11_000));
    const waiting = await local.api.get(`/v1/plans/${created.body.id}`);
    expect(waiting.body.status).toBe("waiting_approval");
    expect(step(waiting.body, "send")).toMatchObject({ status: "waiting", taskId: null });
    const approved = await local.api.post(`/v1/plans/${created.body.id}/steps/gate/approve`);
    expect(approved.status).toBe(200);
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    expect(step(plan, "send")).toMatchObject({ status: "succeeded", result: { sent: true } });
  });

  it("fails the plan when rejected; later steps never run", async () => {
    const created = await gated();
    await local.api.waitForPlan(created.body.id, ["waiting_approval"]);
    const rejected = await local.api.post(`/v1/plans/${created.body.id}/steps/gate/reject`, { comment: "not now" });
    expect(rejected.status).toBe(200);
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("failed");
    expect(plan.error).toMatchObject({ stepId: "gate", code: "approval_rejected" });
    expect(plan.error.message).toContain("not now");
    expect(step(plan, "send")).toMatchObject({ status: "cancelled", taskId: null });
  });

  it("lets only the named approvers decide", async () => {
    const created = await local.api.post("/v1/plans", {
      steps: [{ id: "gate", kind: "approval", message: "Deploy?", approvers: ["some-other-key"] }],
    });
    await local.api.waitForPlan(created.body.id, ["waiting_approval"]);
    const denied = await local.api.post(`/v1/plans/${created.body.id}/steps/gate/approve`);
    expect(denied.status).toBe(403);
    const notGate = await local.api.post(`/v1/plans/${created.body.id}/steps/nope/approve`);
    expect(notGate.status).toBe(404);
    expect((await local.api.post(`/v1/plans/${created.body.id}/cancel`)).status).toBe(200);
  });
});

describe("cancel and retry", () => {
  it("cancels a running plan: its execution stops and the task in flight is cancelled", async () => {
    const created = await local.api.post("/v1/plans", {
      steps: [
        { id: "long", agentId: "diag", action: "sleep", params: { ms: 20_000 } },
        { id: "next", agentId: "diag", action: "echo", params: {}, dependsOn: ["long"] },
      ],
    });
    await local.api.waitUntil(`/v1/plans/${created.body.id}`, (p) => step(p, "long").status === "running");
    const cancelled = await local.api.post(`/v1/plans/${created.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe("cancelled");
    expect(step(cancelled.body, "long").status).toBe("cancelled");
    expect(step(cancelled.body, "next").status).toBe("cancelled");
    const task = await local.api.get(`/v1/tasks/${step(cancelled.body, "long").taskId}`);
    expect(task.body.status).toBe("cancelled");
    const arn = cancelled.body.executionArn;
    await local.nexus.stepFunctions.settled(arn);
    const { SFNClient, DescribeExecutionCommand } = await import("@aws-sdk/client-sfn");
    const sfn = new SFNClient({
      endpoint: local.nexus.endpoints.stepFunctions,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    sfn.destroy();
    expect(execution.status).toBe("ABORTED");
    expect((await local.api.post(`/v1/plans/${created.body.id}/cancel`)).status).toBe(409);
  });

  it("retries from the failed step, keeping the steps that succeeded", async () => {
    let broken = true;
    const agent = await local.api.post("/v1/agents", { name: "flaky-worker", actions: [{ name: "work" }] });
    expect(agent.status).toBe(201);
    await local.nexus.attachWorker("flaky-worker", {
      work: async (params) => {
        if (broken) {
          const { NonRetriableError } = await import("@nexus/core");
          throw new NonRetriableError("broken", "the worker is broken");
        }
        return { worked: params };
      },
    });
    const created = await local.api.post("/v1/plans", {
      steps: [
        { id: "fetch", agentId: "diag", action: "echo", params: { value: 7 } },
        {
          id: "work",
          agentId: "flaky-worker",
          action: "work",
          params: { v: "{{steps.fetch.result.value}}" },
          dependsOn: ["fetch"],
        },
      ],
    });
    const failed = await local.api.waitForPlan(created.body.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({ stepId: "work", code: "broken" });
    const fetchTask = step(failed, "fetch").taskId;

    expect((await local.api.post(`/v1/plans/${created.body.id}/retry`)).status).toBe(200);
    const retryRunning = await local.api.post(`/v1/plans/${created.body.id}/retry`);
    expect(retryRunning.status).toBe(409);
    // The retry started before the worker was fixed may fail again; fix it, wait, retry if needed.
    broken = false;
    let plan = await local.api.waitForPlan(created.body.id);
    if (plan.status === "failed") {
      await local.api.post(`/v1/plans/${created.body.id}/retry`);
      plan = await local.api.waitForPlan(created.body.id);
    }
    expect(plan.status).toBe("succeeded");
    expect(plan.run).toBeGreaterThanOrEqual(2);
    expect(step(plan, "fetch").taskId).toBe(fetchTask);
    expect(step(plan, "work").result).toEqual({ worked: { v: 7 } });
    expect(plan.events.some((e: Json) => e.type === "retried")).toBe(true);
  });
});
