import { SFNClient } from "@aws-sdk/client-sfn";
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { ActionError, type Context, createLogger, type LogRecord, stepFunctions } from "@nexus/core";
import * as Agents from "@nexus/core/agents";
import * as Sweeper from "@nexus/core/sweeper";
import * as Tasks from "@nexus/core/tasks";
import * as Worker from "@nexus/core/worker";
import { startStepFunctions } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manualClock, startTestContext } from "./support/context.js";
import { sqsEvent, sqsRecordFactory } from "./support/events.js";
import { captureOutput } from "./support/output.js";

const logger = createLogger("nexus-test", { level: "SILENT" });
const clock = manualClock();
let env: Awaited<ReturnType<typeof startTestContext>>;
let ctx: Context;

beforeAll(async () => {
  env = await startTestContext({ now: clock.now });
  ctx = env.ctx;
  await Agents.register(ctx, {
    name: "worker",
    actions: [
      { name: "ok", retry: { maxAttempts: 2, backoffSeconds: 0 } },
      { name: "flaky", retry: { maxAttempts: 2, backoffSeconds: 0 } },
      { name: "big" },
      { name: "slow", timeoutSeconds: 1 },
    ],
  });
});
afterAll(async () => {
  await env?.stop();
});

const limits = { getRemainingTimeInMillis: () => 60_000 };

async function consumer(handlers: Record<string, Worker.ActionHandler>, context: Context = ctx, agentId = "worker") {
  const agent = await Agents.get(ctx, agentId);
  return Worker.createConsumer({ ctx: context, agentId, queue: agent.queue, handlers, logger });
}

/** Takes every visible message off the agent's queue: the messages are "lost". Returns their bodies. */
async function drainQueue(agentId = "worker") {
  const agent = await Agents.get(ctx, agentId);
  const drained: unknown[] = [];
  for (;;) {
    const out = await ctx.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: agent.queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (!out.Messages?.length) return drained;
    drained.push(...out.Messages.map((m) => JSON.parse(m.Body ?? "{}")));
    await ctx.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: agent.queue.url,
        Entries: out.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}

async function receive(queueUrl: string) {
  const out = await ctx.sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
  );
  return (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? "{}"));
}

const message = (taskId: string, attempt?: number) => sqsRecordFactory({ taskId, ...(attempt ? { attempt } : {}) });

describe("agent consumer", () => {
  it("reports only the record whose storage write failed, and completes the others", async () => {
    const a = await Tasks.submit(ctx, { agentId: "worker", action: "ok" });
    const b = await Tasks.submit(ctx, { agentId: "worker", action: "ok" });
    // A DynamoDB outage for one task: a fault the emulator cannot produce on demand.
    const faulty: Context = {
      ...ctx,
      ddb: {
        send: (command: { input: { Key?: { PK?: string } } }) => {
          if (command.input.Key?.PK === `TASK#${b.task.id}`) return Promise.reject(new Error("ServiceUnavailable"));
          return ctx.ddb.send(command as never);
        },
      } as unknown as Context["ddb"],
    };
    const handle = await consumer({ ok: async () => "done" }, faulty);
    const first = message(a.task.id, 1);
    const second = message(b.task.id, 1);
    const response = await handle(sqsEvent(first, second), limits);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: second.messageId }]);
    expect((await Tasks.get(ctx, a.task.id)).status).toBe("succeeded");
    expect((await Tasks.get(ctx, b.task.id)).status).toBe("queued");
    // redelivered once storage is back: runs once
    const retry = await (await consumer({ ok: async () => "done" }))(sqsEvent(second), limits);
    expect(retry.batchItemFailures).toEqual([]);
    expect(await Tasks.get(ctx, b.task.id)).toMatchObject({ status: "succeeded", attempts: 1, result: "done" });
    await drainQueue();
  });

  it("schedules a retry as a delayed message for the next attempt", async () => {
    const { task } = await Tasks.submit(ctx, { agentId: "worker", action: "flaky" });
    await drainQueue();
    const handle = await consumer({
      flaky: async () => {
        throw new ActionError("upstream_busy", "try later");
      },
    });
    await handle(sqsEvent(message(task.id, 1)), limits);
    const after = await Tasks.get(ctx, task.id);
    expect(after).toMatchObject({ status: "queued", attempts: 1, error: { code: "upstream_busy", retriable: true } });
    const agent = await Agents.get(ctx, "worker");
    expect(await receive(agent.queue.url)).toEqual([{ taskId: task.id, attempt: 2 }]);
  });

  it("fails oversized results without retrying, and times out slow actions", async () => {
    const big = await Tasks.submit(ctx, { agentId: "worker", action: "big" });
    const slow = await Tasks.submit(ctx, { agentId: "worker", action: "slow" });
    const handle = await consumer({
      big: async () => "x".repeat(Tasks.MAX_RESULT_BYTES + 10),
      slow: (_params, { signal }) => new Promise((resolve) => signal.addEventListener("abort", () => resolve("late"))),
    });
    await handle(sqsEvent(message(big.task.id, 1), message(slow.task.id, 1)), limits);
    expect(await Tasks.get(ctx, big.task.id)).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "result_too_large", retriable: false },
    });
    expect(await Tasks.get(ctx, slow.task.id)).toMatchObject({ status: "queued", error: { code: "timeout" } });
    await drainQueue();
  });

  it("does not let a late result overwrite a cancellation", async () => {
    const { task } = await Tasks.submit(ctx, { agentId: "worker", action: "ok" });
    const handle = await consumer({
      ok: async () => {
        await Tasks.cancel(ctx, task.id, "operator changed their mind");
        return "too late";
      },
    });
    await handle(sqsEvent(message(task.id, 1)), limits);
    const after = await Tasks.get(ctx, task.id);
    expect(after.status).toBe("cancelled");
    expect(after.result).toBeUndefined();
    await drainQueue();
  });
});

describe("an attempt's log", () => {
  it("goes to the consumer's attemptLog: what the action logs, with the task's and attempt's ids, secrets redacted", async () => {
    const task = await Tasks.submit(ctx, { agentId: "worker", action: "ok" });
    const captured: Array<{ attempt: { taskId: string; attempt: number }; record: LogRecord }> = [];
    const agent = await Agents.get(ctx, "worker");
    const output = captureOutput();
    try {
      const run = Worker.createConsumer({
        ctx,
        agentId: "worker",
        queue: agent.queue,
        logger: createLogger("nexus-agent-worker", { level: "INFO" }),
        attemptLog: (attempt, record) => captured.push({ attempt, record }),
        handlers: {
          ok: async (_params, context) => {
            context.logger?.info("calling the provider", { step: 1, password: "hunter2-hunter2" });
            return { done: true };
          },
        },
      });
      await run(sqsEvent(message(task.task.id, 1)), limits);
    } finally {
      output.restore();
    }
    expect(captured).toEqual([
      {
        attempt: { taskId: task.task.id, attempt: 1 },
        record: expect.objectContaining({
          message: "calling the provider",
          step: 1,
          password: "[redacted]",
          taskId: task.task.id,
          agentId: "worker",
          attemptId: `${task.task.id}#1`,
        }),
      },
    ]);
    // The same record also went to the function's log; records outside the action's run are not the attempt's.
    expect(output.logRecords().map((r) => r.message)).toEqual(["calling the provider", "task succeeded"]);
  });
});

/** The sweeper tests' agent. */
const SWEPT = "swept";

describe("sweeper", () => {
  // An agent of their own: the tests above leave messages on the worker's queue (retries, some delayed), and the
  // sweeper reads the queue's backlog.
  beforeAll(async () => {
    await Agents.register(ctx, {
      name: SWEPT,
      actions: [{ name: "ok", retry: { maxAttempts: 2, backoffSeconds: 0 } }],
    });
  });

  it("keeps a task the queue refused and re-sends it later", async () => {
    // An SQS outage at submit time: a fault the emulator cannot produce on demand.
    const outage: Context = {
      ...ctx,
      sqs: { send: () => Promise.reject(new Error("ServiceUnavailable")) } as unknown as Context["sqs"],
    };
    const submitted = await Tasks.submit(outage, { agentId: SWEPT, action: "ok" });
    expect(submitted).toMatchObject({ enqueued: false, task: { status: "queued" } });
    clock.advance(10 * 60_000);
    expect((await Sweeper.sweep(ctx, { graceMs: 5 * 60_000 })).requeued).toBeGreaterThanOrEqual(1);
    const agent = await Agents.get(ctx, SWEPT);
    expect(await receive(agent.queue.url)).toContainEqual({ taskId: submitted.task.id, attempt: 1 });
    await Tasks.cancel(ctx, submitted.task.id);
    await drainQueue(SWEPT);
  });

  it("re-sends a queued task whose message was lost, only after the grace period", async () => {
    const { task } = await Tasks.submit(ctx, { agentId: SWEPT, action: "ok" });
    await drainQueue(SWEPT); // the message is lost
    const grace = 5 * 60_000;
    expect((await Sweeper.sweep(ctx, { graceMs: grace })).requeued).toBe(0);
    clock.advance(grace + 1000);
    const result = await Sweeper.sweep(ctx, { graceMs: grace });
    expect(result.requeued).toBeGreaterThanOrEqual(1);
    const agent = await Agents.get(ctx, SWEPT);
    expect(await receive(agent.queue.url)).toContainEqual({ taskId: task.id, attempt: 1 });
    const after = await Tasks.get(ctx, task.id);
    expect(after.events.at(-1)).toMatchObject({ type: "requeued", message: "message lost; re-sent" });
    // a second sweep right away does nothing more
    expect((await Sweeper.sweep(ctx, { graceMs: grace })).requeued).toBe(0);
    await Tasks.cancel(ctx, task.id);
    await drainQueue(SWEPT);
  });

  it("leaves a task queued behind a backlog alone: its message waits in the queue, it is not lost", async () => {
    const { task } = await Tasks.submit(ctx, { agentId: SWEPT, action: "ok" });
    const grace = 5 * 60_000;
    // Nothing consumes the queue for three sweeps' time: the task waits its turn, each sweep sees it past the grace.
    for (let sweep = 0; sweep < 3; sweep++) {
      clock.advance(grace + 1000);
      expect((await Sweeper.sweep(ctx, { graceMs: grace })).backlogged).toBeGreaterThanOrEqual(1);
    }
    expect((await Tasks.get(ctx, task.id)).events.map((e) => e.type)).toEqual(["queued"]);
    // Its one message, not one more per sweep; taken off the queue here, it is lost: now nothing waits, and the next
    // sweep re-sends it.
    expect(await drainQueue(SWEPT)).toEqual([{ taskId: task.id, attempt: 1 }]);
    await Sweeper.sweep(ctx, { graceMs: grace });
    expect((await Tasks.get(ctx, task.id)).events.map((e) => e.type)).toEqual(["queued", "requeued"]);
    expect(await drainQueue(SWEPT)).toEqual([{ taskId: task.id, attempt: 1 }]);
    await Tasks.cancel(ctx, task.id);
  });

  it("gives a plan step whose task waits behind a backlog a heartbeat each sweep", async () => {
    // A waiting state with a 1 s heartbeat, whose invocation queues a task carrying its token (as a plan step's does).
    let taskId = "";
    const sfn = await startStepFunctions({
      definition: {
        StartAt: "Step",
        States: {
          Step: {
            Type: "Task",
            Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
            TimeoutSeconds: 60,
            HeartbeatSeconds: 1,
            Parameters: {
              FunctionName: "arn:aws:lambda:us-east-1:123456789012:function:plans",
              Payload: { "token.$": "$$.Task.Token" },
            },
            End: true,
          },
        },
      },
      stateMachineName: "swept-step",
      logger,
      invoke: async (payload) => {
        const step = { planId: "pln_swept", stepId: "only", taskToken: String(payload.token) };
        taskId = (await Tasks.submit(ctx, { agentId: SWEPT, action: "ok" }, { step })).task.id;
        return null;
      },
    });
    const client = new SFNClient({
      region: "us-east-1",
      endpoint: sfn.endpoint,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const withPlans: Context = { ...ctx, workflows: stepFunctions(client, sfn.stateMachineArn) };
    try {
      const executionArn = await withPlans.workflows?.start("backlogged", {});
      await expect.poll(() => taskId).not.toBe("");
      const grace = 60_000;
      clock.advance(grace + 1000);
      // Three heartbeats' time in the queue, swept every 0.4 s.
      for (let i = 0; i < 8; i++) {
        expect((await Sweeper.sweep(withPlans, { graceMs: grace })).backlogged).toBeGreaterThanOrEqual(1);
        await new Promise((r) => setTimeout(r, 400));
      }
      expect(await withPlans.workflows?.describe(executionArn ?? "")).toMatchObject({ status: "RUNNING" });
      // Its token is still live: the task's end reaches the step.
      await Tasks.cancel(withPlans, taskId);
      await sfn.settled(executionArn ?? "");
      expect(await withPlans.workflows?.describe(executionArn ?? "")).toMatchObject({
        status: "FAILED",
        error: "task_cancelled",
      });
    } finally {
      client.destroy();
      await sfn.stop();
      await drainQueue(SWEPT);
    }
  });

  it("puts a task back when its worker died, and fails it when no attempts are left", async () => {
    const agent = await Agents.get(ctx, SWEPT);
    const { task } = await Tasks.submit(ctx, { agentId: SWEPT, action: "ok" });
    await drainQueue(SWEPT);
    // a worker claims the task and dies: the handler never returns within this test
    const claimedBy = await consumer({ ok: () => new Promise(() => undefined) }, ctx, SWEPT);
    void claimedBy(sqsEvent(message(task.id, 1)), { getRemainingTimeInMillis: () => 10_000 });
    await expect.poll(async () => (await Tasks.get(ctx, task.id)).status).toBe("running");
    clock.advance(10 * 60_000);
    expect((await Sweeper.sweep(ctx, { graceMs: 60_000 })).requeued).toBeGreaterThanOrEqual(1);
    expect(await receive(agent.queue.url)).toContainEqual({ taskId: task.id, attempt: 2 });
    const requeued = await Tasks.get(ctx, task.id);
    expect(requeued).toMatchObject({ status: "queued", attempts: 1 });
    expect(requeued.events.at(-1)).toMatchObject({
      type: "requeued",
      message: "worker lost; task put back on its queue",
    });

    // attempt 2 (the last for "ok") dies as well: the sweeper fails the task and dead-letters it
    const again = await consumer({ ok: () => new Promise(() => undefined) }, ctx, SWEPT);
    void again(sqsEvent(message(task.id, 2)), { getRemainingTimeInMillis: () => 10_000 });
    await expect.poll(async () => (await Tasks.get(ctx, task.id)).attempts).toBe(2);
    clock.advance(10 * 60_000);
    expect((await Sweeper.sweep(ctx, { graceMs: 60_000 })).failed).toBeGreaterThanOrEqual(1);
    expect(await Tasks.get(ctx, task.id)).toMatchObject({
      status: "failed",
      error: { code: "lease_expired", retriable: true },
    });
    expect(await receive(agent.queue.dlqUrl)).toContainEqual(
      expect.objectContaining({
        taskId: task.id,
        attempts: 2,
        error: expect.objectContaining({ code: "lease_expired" }),
      }),
    );
  });

  it("reads only the tasks old enough to be lost: a young backlog costs a sweep nothing", async () => {
    const grace = 5 * 60_000;
    const { task: old } = await Tasks.submit(ctx, { agentId: SWEPT, action: "ok" });
    await drainQueue(SWEPT); // its message is lost
    clock.advance(2 * grace);
    // More than a page of tasks submitted now, their messages lost too: none can be lost yet by the grace.
    const young = await Promise.all(
      Array.from({ length: 150 }, async () => (await Tasks.submit(ctx, { agentId: SWEPT, action: "ok" })).task.id),
    );
    await drainQueue(SWEPT);
    let queued = 0;
    let cursor: string | undefined;
    do {
      const page = await Tasks.listRecords(ctx, { status: "queued", limit: 100, cursor });
      queued += page.items.length;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);

    const result = await Sweeper.sweep(ctx, { graceMs: grace });
    expect(result.requeued).toBeGreaterThanOrEqual(1);
    expect(result.complete).toBe(true);
    // Every queued task but the young ones was read, and none of those.
    expect(queued).toBeGreaterThanOrEqual(young.length + 1);
    expect(result.scanned).toBeLessThanOrEqual(queued - young.length);
    expect((await Tasks.get(ctx, old.id)).events.at(-1)).toMatchObject({ type: "requeued" });
    for (const id of young) expect((await Tasks.get(ctx, id)).events.map((e) => e.type)).toEqual(["queued"]);
    // After a restart every queued task is read, young or not (here none is touched: all changed after "0").
    const restarted = await Sweeper.sweep(ctx, { graceMs: grace, restart: true, changedBefore: "0" });
    expect(restarted).toMatchObject({ requeued: 0, failed: 0 });
    expect(restarted.scanned).toBeGreaterThanOrEqual(queued);
    await Promise.all([old.id, ...young].map((id) => Tasks.cancel(ctx, id)));
    await drainQueue(SWEPT);
  });

  it("stops reading tasks at its deadline, and says the sweep is not complete", async () => {
    const { task } = await Tasks.submit(ctx, { agentId: SWEPT, action: "ok" });
    await drainQueue(SWEPT);
    clock.advance(10 * 60_000);
    const late = await Sweeper.sweep(ctx, { graceMs: 60_000, deadline: Date.now() - 1 });
    expect(late).toEqual({ scanned: 0, requeued: 0, failed: 0, backlogged: 0, complete: false });
    expect((await Tasks.get(ctx, task.id)).events.map((e) => e.type)).toEqual(["queued"]);
    const inTime = await Sweeper.sweep(ctx, { graceMs: 60_000, deadline: Date.now() + 60_000 });
    expect(inTime).toMatchObject({ complete: true, requeued: expect.any(Number) });
    expect((await Tasks.get(ctx, task.id)).events.map((e) => e.type)).toEqual(["queued", "requeued"]);
    await Tasks.cancel(ctx, task.id);
    await drainQueue(SWEPT);
  });

  it("looks at agents side by side, each once", async () => {
    for (let i = 0; i < 12; i++) await Agents.register(ctx, { name: `side-${i}`, actions: [{ name: "ok" }] });
    const agents = await Agents.all(ctx);
    // Each queue-depth request takes 20 ms, as a round trip to SQS may.
    let inFlight = 0;
    let most = 0;
    const asked: string[] = [];
    const slow: Context = {
      ...ctx,
      sqs: {
        send: async (command: { input: { QueueUrl?: string } }) => {
          asked.push(command.input.QueueUrl ?? "");
          inFlight++;
          most = Math.max(most, inFlight);
          try {
            await new Promise((r) => setTimeout(r, 20));
            return await ctx.sqs.send(command as never);
          } finally {
            inFlight--;
          }
        },
      } as unknown as Context["sqs"],
    };
    const result = await Sweeper.sweepAgents(slow);
    expect(result.checked).toBe(agents.length);
    // Two requests per agent (its queue and its DLQ), eight agents at a time.
    expect(most).toBeGreaterThan(2);
    expect(most).toBeLessThanOrEqual(16);
    expect(result.errors).toEqual([]);
    expect(asked.sort()).toEqual(agents.flatMap((a) => [a.queue.url, a.queue.dlqUrl]).sort());
  });

  it("goes on where a sweep cut short stopped, so a listing too long for one sweep is covered by the next ones", async () => {
    await Agents.register(ctx, {
      name: "resumed",
      actions: [{ name: "ok", retry: { maxAttempts: 2, backoffSeconds: 0 } }],
    });
    const ids: string[] = [];
    for (let i = 0; i < 250; i += 50) {
      const batch = Array.from({ length: 50 }, () => Tasks.submit(ctx, { agentId: "resumed", action: "ok" }));
      ids.push(...(await Promise.all(batch)).map((s) => s.task.id));
    }
    await drainQueue("resumed"); // every message is lost
    const grace = 5 * 60_000;
    clock.advance(2 * grace);
    const requeued = async () => {
      const tasks = await Promise.all(ids.map((id) => Tasks.get(ctx, id)));
      return tasks.map((t) => t.events.filter((e) => e.type === "requeued").length);
    };
    // A sweep stops after a page here (maxTasks), as one out of time would.
    const options = { graceMs: grace, maxTasks: 100, deadline: Date.now() + 600_000 };
    // The messages a sweep re-sends are taken off between sweeps, as a consumer would: a queue with messages waiting
    // would make the next sweep take the rest for a backlog.
    const sweep = async () => {
      const result = await Sweeper.sweep(ctx, options);
      await drainQueue("resumed");
      return result;
    };
    const first = await sweep();
    expect(first.complete).toBe(false);
    const afterFirst = (await requeued()).filter((n) => n === 1).length;
    expect(afterFirst).toBeGreaterThan(0);
    expect(afterFirst).toBeLessThan(ids.length);
    let sweeps = 1;
    for (let last = first; !last.complete && sweeps < 10; sweeps++) last = await sweep();
    // Each sweep went on from the last: every lost task was put back, once.
    expect(await requeued()).toEqual(ids.map(() => 1));
    expect(sweeps).toBeGreaterThanOrEqual(3);
    // The listing's end reached, the next sweep starts from the newest again.
    expect((await Sweeper.sweep(ctx, { graceMs: grace, deadline: Date.now() + 600_000 })).complete).toBe(true);
    await Promise.all(ids.map((id) => Tasks.cancel(ctx, id)));
    await drainQueue("resumed");
  });

  it("starts over from the newest when the saved position is not one the listing takes", async () => {
    const { task } = await Tasks.submit(ctx, { agentId: SWEPT, action: "ok" });
    await drainQueue(SWEPT);
    clock.advance(10 * 60_000);
    // As another version might have left it: a cursor this listing cannot read.
    const position = { PK: "SWEEP#tasks", SK: "SWEEP" };
    await ctx.ddb.send(
      new PutCommand({ TableName: ctx.tableName, Item: { ...position, status: "open", cursor: "not-a-cursor" } }),
    );
    const result = await Sweeper.sweep(ctx, { graceMs: 60_000, deadline: Date.now() + 60_000 });
    expect(result.complete).toBe(true);
    expect((await Tasks.get(ctx, task.id)).events.map((e) => e.type)).toEqual(["queued", "requeued"]);
    const left = await ctx.ddb.send(new GetCommand({ TableName: ctx.tableName, Key: position }));
    expect(left.Item?.cursor).toBeUndefined();
    await Tasks.cancel(ctx, task.id);
    await drainQueue(SWEPT);
  });
});
