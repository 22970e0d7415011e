import type { CreateScheduleCommandInput, SchedulerClient } from "@aws-sdk/client-scheduler";
import { type ClientSource, withSdk } from "../lazy.js";

/** The EventBridge Scheduler SDK, imported with the first call: few requests create, change or delete a schedule. */
const sdk = () => import("../sdk/scheduler.js");

/** What the cloud's scheduler needs to know of a schedule to fire it. */
export interface Trigger {
  scheduleId: string;
  /** `cron(...)` or `rate(...)`, EventBridge Scheduler syntax. */
  expression: string;
  timezone: string;
  enabled: boolean;
  description: string;
  /**
   * A rate schedule's first run: without it EventBridge Scheduler starts a rate schedule at once; with it the runs
   * are those Nexus shows (every interval from when the rate was set).
   */
  startAt?: Date;
}

/**
 * Keeps the cloud's scheduler in step with the schedule records: in AWS one EventBridge Scheduler schedule per
 * Nexus schedule. Absent locally, where the runtime's own scheduler reads the records.
 */
export interface ScheduleTriggers {
  put(trigger: Trigger): Promise<void>;
  remove(scheduleId: string): Promise<void>;
}

/** Where schedules are created and what they invoke (see {@link schedulerResources}). */
export interface SchedulerConfig {
  /** The stack's schedule group. */
  group: string;
  /** The schedule function's ARN. */
  targetArn: string;
  /** The role EventBridge Scheduler assumes to invoke it (and to write the dead-letter queue). */
  roleArn: string;
  /** Where deliveries that fail after their retries go. */
  deadLetterArn: string;
}

/** Deliveries are retried this often, for at most this long; a late run is still worth starting within it. */
export const RETRY_POLICY = { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 };

/** The JSON the schedule function receives: the scheduled time is EventBridge Scheduler's context attribute. */
export const targetInput = (scheduleId: string) =>
  JSON.stringify({ scheduleId, scheduledAt: "<aws.scheduler.scheduled-time>" });

export function scheduleInput(config: SchedulerConfig, trigger: Trigger): CreateScheduleCommandInput {
  return {
    Name: trigger.scheduleId,
    GroupName: config.group,
    Description: trigger.description.slice(0, 512),
    ScheduleExpression: trigger.expression,
    ScheduleExpressionTimezone: trigger.timezone,
    State: trigger.enabled ? "ENABLED" : "DISABLED",
    ...(trigger.startAt ? { StartDate: trigger.startAt } : {}),
    // Runs at the scheduled time, not somewhere in a window after it.
    FlexibleTimeWindow: { Mode: "OFF" },
    Target: {
      Arn: config.targetArn,
      RoleArn: config.roleArn,
      Input: targetInput(trigger.scheduleId),
      RetryPolicy: RETRY_POLICY,
      DeadLetterConfig: { Arn: config.deadLetterArn },
    },
  };
}

/** EventBridge Scheduler through `client` (or the one its factory makes): create-or-update and delete, each idempotent. */
export function eventBridgeScheduler(client: ClientSource<SchedulerClient>, config: SchedulerConfig): ScheduleTriggers {
  const loaded = withSdk(sdk, client);
  return {
    async put(trigger) {
      const input = scheduleInput(config, trigger);
      const [
        { ConflictException, CreateScheduleCommand, ResourceNotFoundException, UpdateScheduleCommand },
        scheduler,
      ] = await loaded();
      try {
        await scheduler.send(new UpdateScheduleCommand(input));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) throw error;
        try {
          await scheduler.send(new CreateScheduleCommand(input));
        } catch (created) {
          // Created meanwhile by a concurrent request: make it this one.
          if (!(created instanceof ConflictException)) throw created;
          await scheduler.send(new UpdateScheduleCommand(input));
        }
      }
    },
    async remove(scheduleId) {
      const [{ DeleteScheduleCommand, ResourceNotFoundException }, scheduler] = await loaded();
      try {
        await scheduler.send(new DeleteScheduleCommand({ Name: scheduleId, GroupName: config.group }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) throw error;
      }
    },
  };
}

export type { SchedulerClient };
