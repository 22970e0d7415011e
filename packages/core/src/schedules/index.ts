export type { ScheduleRecord } from "../storage/schedules.js";
export {
  ExpressionError,
  isTimeZone,
  nextRun,
  parseCron,
  parseRate,
  type Recurrence,
  runsBetween,
} from "./expression.js";
export { scheduleDlqName, scheduleFunctionName, schedulerResources, schedulerRoleName } from "./names.js";
export {
  create,
  due,
  type Fired,
  type FireOptions,
  fire,
  get,
  list,
  type Options,
  preview,
  recordMissed,
  recurrence,
  remove,
  runNow,
  update,
} from "./schedules.js";
export * from "./schema.js";
export {
  eventBridgeScheduler,
  RETRY_POLICY,
  type SchedulerClient,
  type SchedulerConfig,
  type ScheduleTriggers,
  scheduleInput,
  type Trigger,
  targetInput,
} from "./triggers.js";
export { fromUnixCron, isUnixCron, parseAnyCron, type StoredCron } from "./unix.js";
