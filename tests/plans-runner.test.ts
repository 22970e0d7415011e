import { type Context, createLogger, type ExecutionState, executionArnOf, type Workflows } from "@nexus/core";
import * as Agents from "@nexus/core/agents";
import * as Plans from "@nexus/core/plans";
import * as Tasks from "@nexus/core/tasks";
import * as Worker from "@nexus/core/worker";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestContext } from "./support/context.js";

/**
 * Step Functions and Lambda may run a task state's invocation twice, late, or for a run that was replaced.
 * These faults cannot be provoked on the local endpoint at will, so the runner's ops are called directly
 * here (on the real emulated table and queues), with a Workflows that records what it was told.
 */
const logger = createLogger("nexus-test", { level: "SILENT" });
let env: Awaited<ReturnType<typeof startTestContext>>;
let ctx: Context;
const told: Array<{ call: string; token: string; detail?: unknown }> = [];
const started: string[] = [];

const workflows: Workflows = {
  stateMachineArn: "arn:aws:states:us-east-1:123456789012:stateMachine:test",
  start: async (name) => {
    started.push(name);
    return `arn:aws:states:us-east-1:123456789012:execution:test:${name}`;
  },
  stop: async () => undefined,
  succeed: async (token, output) => {
    told.push({ call: "succeed", token, detail: output });
    return true;
  },
  fail: async (token, error) => {
    told.push({ call: "fail", token, detail: error });
    return true;
  },
  heartbeat: async () => true,
  describe: async (arn) => executions.get(arn),
};
/** What DescribeExecution answers, by execution ARN (absent: no such execution). */
const executions = new Map<string, ExecutionState>();

beforeAll(async () => {
  env = await startTestContext();
  await env.addBuiltinQueue("diag");
  ctx = { ...env.ctx, workflows };
  await Agents.ensureBuiltin(ctx, {
    id: "diag",
    kind: "diag",
    description: "",
    actions: [
      {
        name: "echo",
        description: "",
        params: { type: "object" },
        retry: { maxAttempts: 3, backoffSeconds: 1, maxBackoffSeconds: 30 },
        timeoutSeconds: 10,
      },
    ],
  });
});
afterAll(async () => {
  await env?.stop();
});

const op = (payload: Record<string, unknown>) => Plans.handle(ctx, payload, logger);
const fail = (): never => {
  throw new Error("missing");
};

async function newPlan() {
  const created = await Plans.create(ctx, {
    steps: [
      { id: "a", agentId: "diag", action: "echo", params: { v: 1 } },
      { id: "b", agentId: "diag", action: "echo", params: { from: "{{steps.a.result.v}}" }, dependsOn: ["a"] },
    ],
  });
  if (created.dryRun) throw new Error("not a dry run");
  return created.plan;
}

describe("plan runner ops are idempotent under duplicate and stale invocations", () => {
  it("start twice: one running plan, the same steps to run", async () => {
    const plan = await newPlan();
    const first = (await op({ op: "start", planId: plan.id, run: 1 })) as { steps: Plans.StepPayload[] };
    const second = (await op({ op: "start", planId: plan.id, run: 1 })) as { steps: Plans.StepPayload[] };
    expect(second).toEqual(first);
    expect(first.steps.map((s) => [s.stepId, s.waits])).toEqual([
      ["a", false],
      ["b", true],
    ]);
    const events = (await Plans.get(ctx, plan.id)).events.filter((e) => e.type === "started");
    expect(events).toHaveLength(1);
  });

  it("dispatch twice: one task, which reports to the newest token", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    const one = (await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "a", token: "t1" })) as { taskId: string };
    const two = (await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "a", token: "t2" })) as { taskId: string };
    expect(two.taskId).toBe(one.taskId);
    const tasks = await Tasks.list(ctx, { agentId: "diag", limit: 100 });
    expect(tasks.items.filter((t) => t.planId === plan.id)).toHaveLength(1);
    expect((await Tasks.find(ctx, one.taskId))?.taskToken).toBe("t2");
  });

  it("a task claimed before its step was dispatched again reports to the newest token, not the one it was claimed with", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    const first = (await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "a", token: "claimed-with" })) as {
      taskId: string;
    };
    const delivery = { ctx, agentId: "diag", queue: env.ctx.builtinQueues.diag ?? fail(), logger };
    const leaseUntil = new Date(Date.now() + 60_000).toISOString();
    const claimed = await Worker.claim(delivery, { taskId: first.taskId, attempt: 1 }, leaseUntil);
    expect(claimed?.taskToken).toBe("claimed-with");
    // The run resumes (or the dispatch invocation is retried) while the attempt runs.
    await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "a", token: "resumed" });

    expect(await Worker.succeedAttempt(ctx, claimed ?? fail(), { done: true })).toBe(true);

    expect(told.filter((t) => t.token === "resumed" && t.call === "succeed")).toHaveLength(1);
    expect(told.filter((t) => t.token === "claimed-with")).toHaveLength(0);
  });

  it("a step that already succeeded releases its dependents once per call and stays succeeded", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    await op({ op: "ready", planId: plan.id, run: 1, stepId: "b", token: "ready-b" });
    expect(told.filter((t) => t.token === "ready-b")).toHaveLength(0); // a has not succeeded
    await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "a", token: "run-a" });
    await op({ op: "stepSucceeded", planId: plan.id, run: 1, stepId: "a" });
    await op({ op: "stepSucceeded", planId: plan.id, run: 1, stepId: "a" });
    expect(told.filter((t) => t.token === "ready-b" && t.call === "succeed").length).toBeGreaterThanOrEqual(1);
    const after = await Plans.get(ctx, plan.id);
    expect(after.steps.find((s) => s.id === "a")?.status).toBe("succeeded");
    expect(after.events.filter((e) => e.type === "step_succeeded")).toHaveLength(1);
  });

  it("an agent step's task records the step's success and releases its dependents, then returns the token", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    await op({ op: "ready", planId: plan.id, run: 1, stepId: "b", token: "ready-b2" });
    const { taskId } = (await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "a", token: "run-a2" })) as {
      taskId: string;
    };
    const delivery = { ctx, agentId: "diag", queue: env.ctx.builtinQueues.diag ?? fail(), logger };
    const leaseUntil = new Date(Date.now() + 60_000).toISOString();
    const claimed = await Worker.claim(delivery, { taskId, attempt: 1 }, leaseUntil);
    expect(await Worker.succeedAttempt(ctx, claimed ?? fail(), { v: 1 })).toBe(true);

    const after = await Plans.get(ctx, plan.id);
    expect(after.steps.find((s) => s.id === "a")).toMatchObject({ status: "succeeded", taskId });
    // b was released before a's token came back: no state of a's iteration is left to do it.
    const order = told.filter((t) => t.token === "ready-b2" || t.token === "run-a2").map((t) => `${t.call} ${t.token}`);
    expect(order).toEqual(["succeed ready-b2", "succeed run-a2"]);

    // A redelivered message of the finished task changes nothing: recorded once, told once (its token is spent).
    await Worker.claim(delivery, { taskId, attempt: 1 }, leaseUntil);
    const again = await Plans.get(ctx, plan.id);
    expect(again.events.filter((e) => e.type === "step_succeeded" && e.stepId === "a")).toHaveLength(1);
    expect(told.filter((t) => t.token === "run-a2" && t.call === "succeed")).toHaveLength(1);
  });

  it("a task that succeeds before its dispatch names it on the step is recorded with the step's success", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    // The dispatch's submission, its task run and done before the dispatch writes the task's id on the step.
    const idempotencyKey = `plan:${plan.id}:1:a`;
    const step = { planId: plan.id, stepId: "a", taskToken: "early" };
    const { task } = await Tasks.submit(
      ctx,
      { agentId: "diag", action: "echo", params: { v: 1 }, idempotencyKey },
      { step },
    );
    const delivery = { ctx, agentId: "diag", queue: env.ctx.builtinQueues.diag ?? fail(), logger };
    const leaseUntil = new Date(Date.now() + 60_000).toISOString();
    const claimed = await Worker.claim(delivery, { taskId: task.id, attempt: 1 }, leaseUntil);
    expect(await Worker.succeedAttempt(ctx, claimed ?? fail(), { v: 1 })).toBe(true);
    expect((await Plans.get(ctx, plan.id)).steps.find((s) => s.id === "a")).toMatchObject({
      status: "succeeded",
      taskId: task.id,
      startedAt: task.createdAt,
    });
    // A dispatch invocation retried after that (its answer was lost) tells the new token the step succeeded.
    const dispatched = (await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "a", token: "retried" })) as {
      taskId: string;
    };
    expect(dispatched.taskId).toBe(task.id);
    expect(told.filter((t) => t.token === "retried").map((t) => t.call)).toEqual(["succeed"]);
    const after = await Plans.get(ctx, plan.id);
    expect(after.steps.find((s) => s.id === "a")).toMatchObject({ status: "succeeded", taskId: task.id });
    expect(after.events.filter((e) => e.type === "step_succeeded" && e.stepId === "a")).toHaveLength(1);
  });

  it("a stale run changes nothing", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    expect(await op({ op: "start", planId: plan.id, run: 7 })).toEqual({ steps: [] });
    await op({ op: "dispatch", planId: plan.id, run: 7, stepId: "a", token: "stale" });
    expect(told.find((t) => t.token === "stale")).toMatchObject({ call: "fail", detail: "step_not_runnable" });
    await op({ op: "finish", planId: plan.id, run: 7, outcome: "succeeded" });
    expect((await Plans.get(ctx, plan.id)).status).toBe("running");
  });

  it("a reference that does not resolve fails the step instead of sending a wrong value", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    const a = (await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "a", token: "a-tok" })) as {
      taskId: string;
    };
    // Step a's task finished without the field b refers to.
    await Tasks.transition(ctx, {
      task: { id: a.taskId, agentId: "diag" },
      to: "succeeded",
      set: { result: Tasks.storedJson({ other: true }) },
      events: [],
      condition: "attribute_exists(PK)",
    });
    await op({ op: "stepSucceeded", planId: plan.id, run: 1, stepId: "a" });
    await op({ op: "dispatch", planId: plan.id, run: 1, stepId: "b", token: "b-tok" });
    expect(told.find((t) => t.token === "b-tok")).toMatchObject({ call: "fail", detail: "reference_unresolved" });
  });
});

describe("references", () => {
  const results = new Map<string, unknown>([
    ["fetch", { title: "T", n: 3, list: [1, 2], nested: { deep: { x: null } } }],
  ]);

  it("a whole-string reference keeps the value's type; an embedded one becomes text", () => {
    expect(
      Plans.resolveReferences(
        {
          n: "{{steps.fetch.result.n}}",
          list: "{{ steps.fetch.result.list }}",
          whole: "{{steps.fetch.result}}",
          text: "Title: {{steps.fetch.result.title}} ({{steps.fetch.result.n}}) {{steps.fetch.result.list}}",
          second: "{{steps.fetch.result.list.1}}",
          x: "{{steps.fetch.result.nested.deep.x}}",
          untouched: ["plain", 1, true, null],
        },
        results,
      ),
    ).toEqual({
      n: 3,
      list: [1, 2],
      whole: results.get("fetch"),
      text: "Title: T (3) [1,2]",
      second: 2,
      x: null,
      untouched: ["plain", 1, true, null],
    });
  });

  it("refuses a missing path or step, and never walks the prototype", () => {
    expect(() => Plans.resolveReferences("{{steps.fetch.result.nope}}", results)).toThrow(/has no 'nope'/);
    expect(() => Plans.resolveReferences("{{steps.other.result}}", results)).toThrow(/has no result/);
    expect(() => Plans.resolveReferences("{{steps.fetch.result.constructor}}", results)).toThrow(/has no/);
    expect(() => Plans.resolveReferences("{{steps.fetch.result.__proto__}}", results)).toThrow(/has no/);
  });

  it("keeps keys such as __proto__ as plain data", () => {
    const params = JSON.parse('{"__proto__": {"polluted": "{{steps.fetch.result.title}}"}}');
    const resolved = Plans.resolveReferences(params, results) as Record<string, unknown>;
    expect(Object.hasOwn(resolved, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("the sweeper settles plan runs that nothing will finish", () => {
  const arnOf = (planId: string, run = 1) => executionArnOf(workflows.stateMachineArn ?? "", `${planId}-r${run}`);
  const recover = () => Plans.recover(ctx, { graceMs: 60_000, logger });

  it("a run whose execution timed out or failed outside the runner ends failed, naming why", async () => {
    const timedOut = await newPlan();
    await op({ op: "start", planId: timedOut.id, run: 1 });
    executions.set(arnOf(timedOut.id), { status: "TIMED_OUT" });
    const failed = await newPlan();
    await op({ op: "start", planId: failed.id, run: 1 });
    await op({ op: "dispatch", planId: failed.id, run: 1, stepId: "a", token: "lost-a" });
    executions.set(arnOf(failed.id), { status: "FAILED", error: "Lambda.Unknown", cause: "runner crashed" });

    const result = await recover();

    expect(result.settled).toBeGreaterThanOrEqual(2);
    const one = await Plans.get(ctx, timedOut.id);
    expect(one.status).toBe("failed");
    expect(one.error).toMatchObject({ code: "execution_timed_out", stepId: null });
    const two = await Plans.get(ctx, failed.id);
    expect(two.status).toBe("failed");
    expect(two.error?.code).toBe("execution_failed");
    expect(two.error?.message).toContain("runner crashed");
    // Nothing is left in flight: the step's task is cancelled with its step.
    expect(two.steps.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    const taskId = two.steps[0]?.taskId ?? "";
    expect((await Tasks.get(ctx, taskId)).status).toBe("cancelled");
  });

  it("a running execution, or a plan just created, is left alone; one stored but never started is started", async () => {
    const running = await newPlan();
    await op({ op: "start", planId: running.id, run: 1 });
    executions.set(arnOf(running.id), { status: "RUNNING" });
    const fresh = await newPlan(); // pending, no execution yet: its API call may still start it
    started.length = 0;

    await recover();

    expect((await Plans.get(ctx, running.id)).status).toBe("running");
    expect(started).not.toContain(`${fresh.id}-r1`);

    const later = { ...ctx, now: () => new Date(Date.now() + 120_000) };
    await Plans.recover(later, { graceMs: 60_000, logger });
    expect(started).toContain(`${fresh.id}-r1`);
    expect((await Plans.get(ctx, fresh.id)).status).toBe("pending");
  });

  it("stops looking at runs at its deadline, and says it did not look at them all", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    executions.set(arnOf(plan.id), { status: "ABORTED" });
    const late = await Plans.recover(ctx, { graceMs: 60_000, logger, deadline: Date.now() - 1 });
    expect(late).toEqual({ checked: 0, resumed: 0, settled: 0, complete: false });
    expect((await Plans.get(ctx, plan.id)).status).toBe("running");
    const inTime = await Plans.recover(ctx, { graceMs: 60_000, logger, deadline: Date.now() + 60_000 });
    expect(inTime).toMatchObject({ complete: true, settled: expect.any(Number) });
    expect(inTime.settled).toBeGreaterThanOrEqual(1);
    expect((await Plans.get(ctx, plan.id)).status).toBe("failed");
  });

  it("goes on where a sweep cut short stopped: the next looks first at the runs the last did not reach", async () => {
    const fresh = await newPlan(); // pending: started by a sweep once older than the grace
    const [a, b, c] = [await newPlan(), await newPlan(), await newPlan()];
    for (const plan of [a, b, c]) await op({ op: "start", planId: plan.id, run: 1 });
    executions.set(arnOf(a.id), { status: "ABORTED" });
    executions.set(arnOf(c.id), { status: "RUNNING" });
    // Runs are looked at newest first (c, b, a): the sweep's time runs out while it looks at b.
    const deadline = Date.now() + 5_000;
    const slow: Context = {
      ...ctx,
      workflows: {
        ...workflows,
        describe: async (arn) => {
          if (arn !== arnOf(b.id)) return executions.get(arn);
          await new Promise((r) => setTimeout(r, deadline - Date.now() + 5));
          return { status: "RUNNING" };
        },
      },
    };
    const cut = await Plans.recover(slow, { graceMs: 60_000, logger, deadline });
    expect(cut.complete).toBe(false);
    expect((await Plans.get(ctx, a.id)).status).toBe("running");

    // The next sweep (later: the pending plan is past the grace) starts at the running runs, where the last stopped:
    // it settles a, and the pending plans wait for the sweep after it.
    const later = { ...ctx, now: () => new Date(Date.now() + 120_000) };
    started.length = 0;
    const next = await Plans.recover(later, { graceMs: 60_000, logger, deadline: Date.now() + 60_000 });
    expect(next.complete).toBe(true);
    expect((await Plans.get(ctx, a.id)).error?.code).toBe("execution_aborted");
    expect(started).not.toContain(`${fresh.id}-r1`);
    await Plans.recover(later, { graceMs: 60_000, logger, deadline: Date.now() + 60_000 });
    expect(started).toContain(`${fresh.id}-r1`);
  });

  it("settles a run only once, however often it is swept", async () => {
    const plan = await newPlan();
    await op({ op: "start", planId: plan.id, run: 1 });
    executions.set(arnOf(plan.id), { status: "ABORTED" });
    await recover();
    await recover();
    const after = await Plans.get(ctx, plan.id);
    expect(after.status).toBe("failed");
    expect(after.error?.code).toBe("execution_aborted");
    expect(after.events.filter((e) => e.type === "failed")).toHaveLength(1);
  });
});

describe("a restart of the local runtime resumes every open run", () => {
  it("a run with a failed step fails as its execution would have; any other gets a new execution of the same run", async () => {
    const broken = await newPlan();
    await op({ op: "start", planId: broken.id, run: 1 });
    await op({ op: "dispatch", planId: broken.id, run: 1, stepId: "a", token: "a-failed" });
    await op({ op: "stepFailed", planId: broken.id, run: 1, stepId: "a", error: { Error: "boom", Cause: "it broke" } });
    const open = await newPlan();
    await op({ op: "start", planId: open.id, run: 1 });
    started.length = 0;

    const result = await Plans.recover(ctx, { restart: true, graceMs: 0, logger });

    expect(result.settled).toBeGreaterThanOrEqual(1);
    const failed = await Plans.get(ctx, broken.id);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({ stepId: "a", code: "boom" });
    expect(failed.steps.find((s) => s.id === "b")?.status).toBe("cancelled");
    expect(started).toContain(`${open.id}-r1`);
    expect(started).not.toContain(`${broken.id}-r1`);
  });
});
