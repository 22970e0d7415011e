import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  type SchedulerClient,
  UpdateScheduleCommand,
} from "@aws-sdk/client-scheduler";
import { describe, expect, it } from "vitest";
import { contextFromEnv } from "../context.js";
import { schedulerResources } from "./names.js";
import { eventBridgeScheduler, type Trigger } from "./triggers.js";

const GROUP_ARN = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/nexus-prod-schedules";
const config = schedulerResources(GROUP_ARN);
const trigger: Trigger = {
  scheduleId: "sch_1",
  expression: "rate(5 minutes)",
  timezone: "UTC",
  enabled: true,
  description: "Nexus schedule 'x'",
  startAt: new Date("2026-01-01T00:05:00Z"),
};

/**
 * EventBridge Scheduler has no local emulator: a client that records the commands and answers with the faults a
 * test gives it (what the adapter does about a missing or concurrently created schedule).
 */
function fakeClient(faults: Array<Error | undefined>) {
  const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      const fault = faults.shift();
      if (fault) throw fault;
      return {};
    },
  };
  return { client: client as unknown as SchedulerClient, sent };
}
const notFound = () =>
  new ResourceNotFoundException({ message: "no such schedule", Message: "no such schedule", $metadata: {} });
const conflict = () => new ConflictException({ message: "exists", Message: "exists", $metadata: {} });

describe("the EventBridge Scheduler adapter", () => {
  it("derives the function, role and dead-letter queue from the group's ARN", () => {
    expect(config).toEqual({
      group: "nexus-prod-schedules",
      targetArn: "arn:aws:lambda:eu-west-1:123456789012:function:nexus-prod-schedules",
      roleArn: "arn:aws:iam::123456789012:role/nexus-prod-schedules-invoke",
      deadLetterArn: "arn:aws:sqs:eu-west-1:123456789012:nexus-prod-schedules-dlq",
    });
    expect(() => schedulerResources("arn:aws:sqs:eu-west-1:123456789012:q")).toThrow(/schedule group/);
    const ctx = contextFromEnv({ NEXUS_TABLE: "t", NEXUS_QUEUE_PREFIX: "p-", NEXUS_SCHEDULE_GROUP_ARN: GROUP_ARN });
    expect(ctx.schedules).toBeDefined();
    expect(contextFromEnv({ NEXUS_TABLE: "t", NEXUS_QUEUE_PREFIX: "p-" }).schedules).toBeUndefined();
  });

  it("updates an existing schedule with the whole configuration", async () => {
    const { client, sent } = fakeClient([]);
    await eventBridgeScheduler(client, config).put(trigger);
    expect(sent.map((c) => c.name)).toEqual([UpdateScheduleCommand.name]);
    expect(sent[0]?.input).toMatchObject({
      Name: "sch_1",
      GroupName: "nexus-prod-schedules",
      ScheduleExpression: "rate(5 minutes)",
      StartDate: trigger.startAt,
      FlexibleTimeWindow: { Mode: "OFF" },
      Target: { Arn: config.targetArn, RoleArn: config.roleArn, DeadLetterConfig: { Arn: config.deadLetterArn } },
    });
  });

  it("creates a schedule that does not exist, and updates one created meanwhile", async () => {
    const created = fakeClient([notFound()]);
    await eventBridgeScheduler(created.client, config).put(trigger);
    expect(created.sent.map((c) => c.name)).toEqual([UpdateScheduleCommand.name, CreateScheduleCommand.name]);
    const raced = fakeClient([notFound(), conflict()]);
    await eventBridgeScheduler(raced.client, config).put({ ...trigger, enabled: false });
    expect(raced.sent.map((c) => c.name)).toEqual([
      UpdateScheduleCommand.name,
      CreateScheduleCommand.name,
      UpdateScheduleCommand.name,
    ]);
    expect(raced.sent.at(-1)?.input.State).toBe("DISABLED");
  });

  it("deletes a schedule, a missing one included; other faults are thrown", async () => {
    const gone = fakeClient([notFound()]);
    await eventBridgeScheduler(gone.client, config).remove("sch_1");
    expect(gone.sent).toEqual([
      { name: DeleteScheduleCommand.name, input: { Name: "sch_1", GroupName: "nexus-prod-schedules" } },
    ]);
    const broken = fakeClient([new Error("throttled")]);
    await expect(eventBridgeScheduler(broken.client, config).remove("sch_1")).rejects.toThrow("throttled");
  });
});
