/** What Nexus uses of the EventBridge Scheduler SDK, imported on first use (schedules/triggers.ts, context.ts); see sdk/s3.ts. */
export {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
} from "@aws-sdk/client-scheduler";
