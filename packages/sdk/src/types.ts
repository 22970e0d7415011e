/**
 * The API's objects as the client sees them. Written out here (not imported from the server's schemas) so
 * the SDK has no dependencies: a remote worker needs only this package and Node.js 20. Checked against the
 * OpenAPI document by tests/sdk-contract.test.ts: each type and its schema are assignable both ways, with the
 * same properties.
 */

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last. */
  nextCursor: string | null;
}

export interface PageQuery {
  limit?: number;
  cursor?: string;
}

export interface RetryPolicy {
  maxAttempts: number;
  backoffSeconds: number;
  maxBackoffSeconds: number;
}

export interface ActionSpec {
  name: string;
  description?: string;
  /** JSON-schema-like schema of the action's params. */
  params?: Record<string, unknown>;
  retry?: Partial<RetryPolicy>;
  timeoutSeconds?: number;
}

export interface Agent {
  id: string;
  name: string;
  kind: string;
  description: string;
  builtin: boolean;
  status: "active" | "inactive";
  actions: ActionSpec[];
  queue: { url: string; arn: string; dlqUrl: string; dlqArn: string };
  createdAt: string;
  updatedAt: string;
  lastHeartbeatAt: string | null;
  /** Present where the API reports agent health. */
  health?: AgentHealth;
}

export type HealthStatus = "online" | "degraded" | "offline" | "unknown";

/** An agent's health: from its last heartbeat and, on a single agent, its queues' depths. */
export interface AgentHealth {
  status: HealthStatus;
  reason: string;
  /** When the status began, as recorded (null: not recorded yet). */
  since: string | null;
  lastHeartbeatAt: string | null;
  heartbeat: Heartbeat | null;
  /** Waiting, in flight and delayed messages; null in lists. */
  queueDepth: number | null;
  dlqDepth: number | null;
  /** The latest recorded status changes, newest first. */
  transitions: Array<{ at: string; from: HealthStatus; to: HealthStatus; reason: string }>;
}

export interface RegisterAgentInput {
  name: string;
  kind?: string;
  description?: string;
  actions: ActionSpec[];
}

export type TaskStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface TaskError {
  code: string;
  message: string;
  retriable: boolean;
}

export interface TaskEvent {
  at: string;
  type: "queued" | "started" | "attempt_failed" | "requeued" | "succeeded" | "failed" | "cancelled";
  attempt?: number;
  message?: string;
  error?: TaskError;
  retryInSeconds?: number;
}

/** Where params or a result too large to keep on the task are: GET `href` with the same key. */
export interface PayloadRef {
  bytes: number;
  sha256: string;
  contentType: string;
  href: string;
}

export interface Task {
  id: string;
  agentId: string;
  action: string;
  /** Absent when kept in object storage and too large to show inline: see paramsRef. */
  params?: unknown;
  status: TaskStatus;
  attempts: number;
  maxAttempts: number;
  result?: unknown;
  paramsRef?: PayloadRef;
  resultRef?: PayloadRef;
  error: TaskError | null;
  idempotencyKey: string | null;
  planId: string | null;
  /** The failed task this one redrives. */
  redriveOf: string | null;
  stepId: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  events: TaskEvent[];
  /** What the task has cost so far in AWS, estimated (not the action's own run time). */
  cost?: CostEstimate;
}

/** An estimate at published on-demand prices: US dollars in all and by item, and how it was made. */
export interface CostEstimate {
  usd: number;
  items: Partial<
    Record<
      | "apiGateway"
      | "lambdaRequests"
      | "lambdaDuration"
      | "dynamodbWrites"
      | "dynamodbReads"
      | "sqs"
      | "stepFunctions"
      | "logs"
      | "s3"
      | "xray",
      number
    >
  >;
  basis: string;
}

export interface SubmitTaskInput {
  agentId: string;
  action: string;
  params?: unknown;
  idempotencyKey?: string;
}

/** `POST /v1/tasks/batch`: up to 100 tasks, to any agents and actions. */
export interface SubmitTasksInput {
  tasks: SubmitTaskInput[];
}

/** One per task submitted in a batch, in the order given. */
export interface SubmittedTasks {
  items: Array<{ task: Task; replayed: boolean }>;
}

export interface ListTasksQuery extends PageQuery {
  agentId?: string;
  status?: TaskStatus;
}

/** A task handed to a remote worker by a claim. */
export interface ClaimedTask {
  id: string;
  action: string;
  params?: unknown;
  attempt: number;
  maxAttempts: number;
  /** Proves the claim on complete, fail and extend. */
  leaseToken: string;
  /** When the lease runs out unless extended. */
  leaseUntil: string;
}

export interface ClaimInput {
  /** Most tasks to claim, 1 to 10 (default 1). */
  max?: number;
  /** Longest to wait when nothing is queued, 0 to 20 s (default 20). */
  waitSeconds?: number;
  /** How long each task is held without an extend, 10 to 900 s (default 60). */
  leaseSeconds?: number;
}

export interface Lease {
  id: string;
  attempt: number;
  leaseUntil: string;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "critical";

/** A line a remote worker's handler logged during an attempt. */
export interface AttemptLogLine {
  at: string;
  level: LogLevel;
  message: string;
  /** The line's fields as JSON text. */
  data?: string;
}

/** What a remote worker logged during an attempt, sent with its outcome (kept as that attempt's logs). */
export interface AttemptLogReport {
  lines: AttemptLogLine[];
  /** Older lines left out to stay within 200 lines and 64 KB. */
  dropped: number;
}

export interface FailureInput {
  code: string;
  message: string;
  /** false fails the task at once; default true (retried with backoff while attempts are left). */
  retriable?: boolean;
}

export type PlanStatus = "pending" | "running" | "waiting_approval" | "succeeded" | "failed" | "cancelled";

export interface PlanStep {
  id: string;
  kind: "agent" | "approval" | "wait";
  agentId: string | null;
  action: string | null;
  params?: unknown;
  dependsOn: string[];
  message: string | null;
  approvers: string[] | null;
  seconds: number | null;
  retry: Partial<RetryPolicy> | null;
  timeoutSeconds: number;
  status: "pending" | "waiting" | "running" | "waiting_approval" | "succeeded" | "failed" | "cancelled";
  taskId: string | null;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: TaskError | null;
  result?: unknown;
  resultRef?: PayloadRef;
  decidedBy: string | null;
}

export interface PlanSummary {
  id: string;
  name: string;
  goal: string | null;
  status: PlanStatus;
  run: number;
  executionArn: string | null;
  error: (TaskError & { stepId: string | null }) | null;
  createdBy: string | null;
  planner: { name: string; rule: string | null; explanation: string } | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface Plan extends PlanSummary {
  steps: PlanStep[];
  events: Array<{ at: string; type: string; stepId?: string; message?: string; by?: string }>;
  /** What the plan has cost so far in AWS, its tasks included, estimated. */
  cost?: CostEstimate;
}

export interface PlanPreview {
  dryRun: true;
  name: string;
  goal: string | null;
  planner: Plan["planner"];
  steps: PlanStep[];
}

export type PlanStepInput =
  | {
      id: string;
      kind?: "agent";
      agentId: string;
      action: string;
      params?: unknown;
      dependsOn?: string[];
      retry?: Partial<RetryPolicy>;
      timeoutSeconds?: number;
    }
  | {
      id: string;
      kind: "approval";
      message: string;
      approvers?: string[];
      dependsOn?: string[];
      timeoutSeconds?: number;
    }
  | { id: string; kind: "wait"; seconds: number; dependsOn?: string[] };

export interface CreatePlanInput {
  name?: string;
  goal?: string;
  constraints?: { agents?: string[]; requireApproval?: boolean; maxSteps?: number };
  steps?: PlanStepInput[];
  dryRun?: boolean;
}

export interface ListPlansQuery extends PageQuery {
  status?: PlanStatus;
}

export type Role = "admin" | "operator" | "viewer" | "agent";

export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  agentId: string | null;
  prefix: string;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  rateLimitPerMinute: number | null;
}

export interface CreateKeyInput {
  name: string;
  role: Role;
  agentId?: string;
  expiresAt?: string;
  rateLimitPerMinute?: number;
}

/** A new key: the secret `key` is in this reply only. */
export interface CreatedKey extends ApiKey {
  key: string;
}

export interface Health {
  status: "ok";
  version: string;
  time: string;
}

/** What a remote agent reports with each heartbeat. */
export interface Heartbeat {
  /** Tasks in flight now. */
  load: number;
  /** Tasks finished successfully, and failed, since the last heartbeat. */
  done: number;
  failed: number;
  /** How often heartbeats come, 10 s to a day: the health thresholds are multiples of it. */
  intervalSeconds: number;
  lastSuccess?: { taskId: string; at: string };
  version?: string;
  /** Free-form facts (≤ 4 KB, 5 levels); `"ok": false` degrades the agent. */
  details?: Record<string, unknown>;
}

/** A heartbeat as sent: only load is needed; done and failed default to 0, intervalSeconds to 60. */
export type HeartbeatInput = Pick<Heartbeat, "load"> & Partial<Omit<Heartbeat, "load">>;

export interface HeartbeatReceipt {
  agentId: string;
  receivedAt: string;
  health: AgentHealth;
}

export type FailureStatus = "open" | "redriven";

/** An entry of the failures inbox: a task that failed for good, or a message its queue dead-lettered. */
export interface Failure {
  id: string;
  source: "task" | "message";
  agentId: string;
  action: string | null;
  taskId: string | null;
  planId: string | null;
  error: TaskError;
  attempts: number;
  failedAt: string;
  status: FailureStatus;
  redrivenAt: string | null;
  redrivenBy: string | null;
  redriveTaskId: string | null;
}

export interface ListFailuresQuery extends PageQuery {
  agentId?: string;
  status?: FailureStatus;
}

export interface Redriven {
  failure: Failure;
  /** The new task (null: the dead-lettered message was put back on the queue instead). */
  task: Task | null;
}

export interface BulkRedriven {
  redriven: Array<{ failureId: string; taskId: string | null }>;
  skipped: Array<{ failureId: string; code: string; message: string }>;
}

export type ScheduleTarget =
  | { type: "task"; agentId: string; action: string; params?: unknown }
  | {
      type: "plan";
      name?: string;
      steps?: PlanStepInput[];
      goal?: string;
      constraints?: CreatePlanInput["constraints"];
    };

export interface CreateScheduleInput {
  name: string;
  /**
   * Exactly one of cron and rate (`rate(5 minutes)`). cron in EventBridge syntax (`cron(0 9 ? * MON-FRI *)`) or
   * five-field Unix cron (`0 9 * * 1-5`, `@daily`), stored as the EventBridge expression that runs at the same times.
   */
  cron?: string;
  rate?: string;
  timezone?: string;
  target: ScheduleTarget;
  enabled?: boolean;
  overlap?: "skip" | "allow";
}

export type UpdateScheduleInput = Partial<CreateScheduleInput>;

/** A schedule's latest run, as the schedule shows it. */
export type ScheduleLastRun = Omit<ScheduleRun, "scheduleId">;

export interface ScheduleRun {
  scheduleId: string;
  at: string;
  scheduledAt: string;
  trigger: "schedule" | "manual" | "missed";
  outcome: "started" | "skipped" | "failed" | "missed";
  taskId: string | null;
  planId: string | null;
  status?: string | null;
  error: { code: string; message: string } | null;
  missed: number | null;
}

export interface Schedule {
  id: string;
  name: string;
  /** As EventBridge Scheduler runs it. */
  cron: string | null;
  /** The Unix cron expression cron was converted from, as given; null otherwise. */
  unixCron: string | null;
  rate: string | null;
  timezone: string;
  target: ScheduleTarget;
  enabled: boolean;
  overlap: "skip" | "allow";
  nextRunAt: string | null;
  /** The next 5 scheduled times, from nextRunAt; empty while disabled. */
  nextRuns: string[];
  lastRun: ScheduleLastRun | null;
  runs: number;
  missedRuns: number;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
}

export interface PreviewScheduleInput {
  /** Exactly one of cron and rate. */
  cron?: string;
  rate?: string;
  timezone?: string;
  /** How many runs to show: 1-20 (default 5). */
  count?: number;
}

export interface SchedulePreview {
  /** The expression as it would be stored (EventBridge Scheduler syntax). */
  cron?: string;
  /** The Unix cron expression given, when cron was converted from one. */
  unixCron?: string;
  rate?: string;
  timezone: string;
  /** The next runs after now, ISO 8601 in UTC. */
  nextRuns: string[];
}

export interface ScheduleDetail extends Schedule {
  recentRuns: ScheduleRun[];
}

/** One page of a backup export: JSON Lines, and the cursor of the next page (null after the last). */
export interface ExportPage {
  text: string;
  nextCursor: string | null;
  backupId: string;
}

export interface ImportLinesInput {
  backupId: string;
  /** The line number (1-based) of the first of `lines` in the backup file. */
  firstLine: number;
  lines: string[];
  /** Import into a deployment that is not empty, or take over from another backup's import. */
  force?: boolean;
}

export interface ImportLinesResult {
  backupId: string;
  lines: number;
  restored: Record<string, number>;
  existing: number;
  objects: number;
  omittedObjects: number;
  schedules: number;
  completed: boolean;
  resumedPlans: number;
}
