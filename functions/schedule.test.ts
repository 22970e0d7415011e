import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { builtinSpecs } from "@nexus/agents/specs";
import * as Agents from "@nexus/core/agents";
import * as Schedules from "@nexus/core/schedules";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestContext } from "../tests/support/context.js";

/**
 * The schedule function loaded the way Lambda loads it (configuration from the stack's environment), fed the event
 * EventBridge Scheduler sends, against the emulators.
 */
let env: Awaited<ReturnType<typeof startTestContext>>;
let handler: (event: unknown) => Promise<Schedules.Fired | { status: "ignored"; reason: string }>;

beforeAll(async () => {
  env = await startTestContext({ prefix: "nexus-schedule-fn-agent-" });
  await env.addBuiltinQueue("diag");
  const spec = builtinSpecs.find((s) => s.id === "diag");
  if (!spec) throw new Error("no diag spec");
  await Agents.ensureBuiltin(env.ctx, spec);
  Object.assign(process.env, env.functionEnv({ POWERTOOLS_LOG_LEVEL: "SILENT" }));
  ({ handler } = await import("./schedule.js"));
});
afterAll(async () => {
  await env?.stop();
});

describe("the schedule function", () => {
  it("starts the schedule's task once per scheduled time, however often EventBridge Scheduler delivers it", async () => {
    const schedule = await Schedules.create(env.ctx, {
      name: "lambda-echo",
      cron: "cron(0 9 * * ? *)",
      target: { type: "task", agentId: "diag", action: "echo", params: { from: "scheduler" } },
    });
    // As EventBridge Scheduler fills in <aws.scheduler.scheduled-time>.
    const event = { scheduleId: schedule.id, scheduledAt: "2030-01-01T09:00:00Z" };
    const first = await handler(event);
    const again = await handler(event);
    expect(first).toMatchObject({ status: "recorded", run: { outcome: "started", trigger: "schedule" } });
    expect(again).toMatchObject({ status: "duplicate", run: { taskId: (first as Schedules.Fired).run?.taskId } });

    const received = await env.ctx.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: env.ctx.builtinQueues.diag?.url, MaxNumberOfMessages: 10 }),
    );
    expect(received.Messages ?? []).toHaveLength(1);
    expect(JSON.parse(received.Messages?.[0]?.Body ?? "{}")).toMatchObject({
      taskId: (first as Schedules.Fired).run?.taskId,
    });
  });

  it("ignores events that are not a schedule's, and schedules that are gone", async () => {
    expect(await handler({ hello: "world" })).toEqual({ status: "ignored", reason: "invalid_event" });
    expect(await handler({ scheduleId: "sch_gone", scheduledAt: "2030-01-01T09:00:00Z" })).toEqual({
      status: "ignored",
      reason: "not_found",
    });
  });
});
