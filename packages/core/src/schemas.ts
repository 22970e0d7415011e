import * as z from "zod";
import { COST_ITEMS } from "./cost.js";
import { jsonDepth } from "./json-depth.js";
import { ParamsSchemaSchema } from "./params-schema.js";
import { pure } from "./pure.js";

/** Ids of agents: lower-case slug; built-in agents use their name as id. */
export const AgentId = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(2)
    .max(40)
    .regex(/^[a-z][a-z0-9-]*[a-z0-9]$/, "must be a lower-case slug: letters, digits and dashes, starting with a letter")
    .refine((id) => !id.endsWith("-dlq"), "must not end in -dlq (reserved for dead-letter queues)"),
);

export const ActionName = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z][a-z0-9_]*$/, "must be snake_case: lower-case letters, digits and underscores"),
);

export const RetryPolicy = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(10).default(3).describe("Attempts before the task fails (default 3)"),
      backoffSeconds: z.number().int().min(0).max(300).default(2).describe("First retry delay; doubles each attempt"),
      maxBackoffSeconds: z.number().int().min(0).max(900).default(300).describe("Cap on the retry delay"),
    })
    .meta({ id: "RetryPolicy" }),
);
export type RetryPolicy = z.output<typeof RetryPolicy>;

export const ActionSpec = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      name: ActionName,
      description: z.string().max(1000).default(""),
      params: ParamsSchemaSchema.default({ type: "object" }).describe("JSON-schema-like schema of the action's params"),
      retry: RetryPolicy.default({ maxAttempts: 3, backoffSeconds: 2, maxBackoffSeconds: 300 }),
      timeoutSeconds: z.number().int().min(1).max(900).default(60),
    })
    .meta({ id: "ActionSpec" }),
);
export type ActionSpec = z.output<typeof ActionSpec>;

export const QueueRef = /* @__PURE__ */ pure(() =>
  z.object({ url: z.string(), arn: z.string(), dlqUrl: z.string(), dlqArn: z.string() }).meta({ id: "QueueRef" }),
);
export type QueueRef = z.output<typeof QueueRef>;

export const AgentStatus = /* @__PURE__ */ pure(() => z.enum(["active", "inactive"]));

/** Heartbeat `details`: a small free-form JSON object (bounded size and nesting). */
export const MAX_HEARTBEAT_DETAILS_BYTES = 4096;
export const MAX_HEARTBEAT_DETAILS_DEPTH = 5;

/** What an agent reports with each heartbeat (see `POST /v1/agents/{id}/heartbeat`). */
export const Heartbeat = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      load: z.number().int().min(0).max(1_000_000).describe("Tasks in flight now"),
      done: z.number().int().min(0).max(1_000_000_000).describe("Tasks finished successfully in the last interval"),
      failed: z.number().int().min(0).max(1_000_000_000).describe("Tasks that failed in the last interval"),
      intervalSeconds: z
        .number()
        .int()
        .min(10)
        .max(86_400)
        .describe("How often this agent sends a heartbeat; the health thresholds are multiples of it"),
      lastSuccess: z
        .strictObject({ taskId: z.string().min(1).max(64), at: z.iso.datetime({ offset: true }) })
        .optional()
        .describe("The last task that succeeded"),
      version: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[\x20-\x7e]+$/, "must be printable ASCII")
        .optional()
        .describe("The agent's version"),
      details: z
        .record(z.string().max(64), z.unknown())
        .refine(
          (d) => Buffer.byteLength(JSON.stringify(d), "utf8") <= MAX_HEARTBEAT_DETAILS_BYTES,
          `must be at most ${MAX_HEARTBEAT_DETAILS_BYTES} bytes of JSON`,
        )
        .refine((d) => jsonDepth(d, MAX_HEARTBEAT_DETAILS_DEPTH) <= MAX_HEARTBEAT_DETAILS_DEPTH, {
          message: `must nest at most ${MAX_HEARTBEAT_DETAILS_DEPTH} levels deep`,
        })
        .optional()
        .describe('Free-form facts (host, queue, …); `"ok": false` (a failed health check) degrades the agent'),
    })
    .meta({ id: "Heartbeat" }),
);
export type Heartbeat = z.output<typeof Heartbeat>;

/** The interval a heartbeat that does not say its own is taken to have: the SDK worker's default. */
export const DEFAULT_HEARTBEAT_SECONDS = 60;

/** A heartbeat as sent: only `load` is needed; the counts default to 0, the interval to 60 s. */
export const HeartbeatInput = /* @__PURE__ */ pure(() =>
  Heartbeat.extend({
    done: Heartbeat.shape.done.default(0).describe("Tasks finished successfully in the last interval (default 0)"),
    failed: Heartbeat.shape.failed.default(0).describe("Tasks that failed in the last interval (default 0)"),
    intervalSeconds: Heartbeat.shape.intervalSeconds
      .default(DEFAULT_HEARTBEAT_SECONDS)
      .describe(
        `How often this agent sends a heartbeat (default ${DEFAULT_HEARTBEAT_SECONDS}); the health thresholds are multiples of it`,
      ),
  }).meta({ id: "HeartbeatInput" }),
);
export type HeartbeatInput = z.input<typeof HeartbeatInput>;

export const HealthStatus = /* @__PURE__ */ pure(() => z.enum(["online", "degraded", "offline", "unknown"]));
export type HealthStatus = z.output<typeof HealthStatus>;

export const HealthTransition = /* @__PURE__ */ pure(() =>
  z
    .object({
      at: z.string().describe("When the new status began"),
      from: HealthStatus,
      to: HealthStatus,
      reason: z.string(),
    })
    .meta({ id: "HealthTransition" }),
);
export type HealthTransition = z.output<typeof HealthTransition>;

export const AgentHealth = /* @__PURE__ */ pure(() =>
  z
    .object({
      status: HealthStatus,
      reason: z.string().describe("Why the agent has this status"),
      since: z.string().nullable().describe("When the status began, as recorded (null: not recorded yet)"),
      lastHeartbeatAt: z.string().nullable(),
      heartbeat: Heartbeat.nullable().describe("The last heartbeat's metrics"),
      queueDepth: z
        .number()
        .int()
        .nullable()
        .describe("Messages in the agent's queue: waiting, in flight and delayed (null in lists)"),
      dlqDepth: z.number().int().nullable().describe("Messages in the agent's dead-letter queue (null in lists)"),
      transitions: z.array(HealthTransition).describe("Recent status changes, newest first"),
    })
    .meta({ id: "AgentHealth" }),
);
export type AgentHealth = z.output<typeof AgentHealth>;

/** When an agent counts as online, degraded or offline. Multiples are of the agent's heartbeat interval. */
export const HealthSettings = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      onlineIntervals: z.number().gt(0).max(100).default(2),
      offlineIntervals: z.number().gt(0).max(1000).default(3),
      errorRate: z.number().gt(0).max(1).default(0.5),
      minSamples: z.number().int().min(1).max(1_000_000).default(4),
      probeIntervalSeconds: z.number().int().min(60).max(86_400).default(300),
    })
    .refine((s) => s.offlineIntervals > s.onlineIntervals, {
      message: "offlineIntervals must be greater than onlineIntervals",
      path: ["offlineIntervals"],
    }),
);
export type HealthSettings = z.output<typeof HealthSettings>;

export const Agent = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: AgentId,
      name: z.string(),
      kind: z.string(),
      description: z.string(),
      builtin: z.boolean(),
      status: AgentStatus,
      actions: z.array(ActionSpec),
      queue: QueueRef,
      createdAt: z.string(),
      updatedAt: z.string(),
      lastHeartbeatAt: z.string().nullable(),
      health: AgentHealth.optional().describe("Liveness from heartbeats, error rate and queue depths"),
    })
    .meta({ id: "Agent" }),
);
export type Agent = z.output<typeof Agent>;

export const RegisterAgentInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      name: AgentId.describe("Unique name; also the agent's id"),
      kind: z
        .string()
        .max(40)
        .regex(/^[a-z][a-z0-9-]*$/)
        .default("custom"),
      description: z.string().max(1000).default(""),
      actions: z
        .array(ActionSpec)
        .min(1)
        .max(50)
        .refine(
          (actions) => new Set(actions.map((a) => a.name)).size === actions.length,
          "action names must be unique",
        ),
    })
    .meta({ id: "RegisterAgentInput" }),
);
export type RegisterAgentInput = z.input<typeof RegisterAgentInput>;

export const TaskStatus = /* @__PURE__ */ pure(() => z.enum(["queued", "running", "succeeded", "failed", "cancelled"]));
export type TaskStatus = z.output<typeof TaskStatus>;
export const TERMINAL_STATUSES: readonly TaskStatus[] = ["succeeded", "failed", "cancelled"];

export const TaskError = /* @__PURE__ */ pure(() =>
  z.object({ code: z.string(), message: z.string(), retriable: z.boolean() }).meta({ id: "TaskError" }),
);
export type TaskError = z.output<typeof TaskError>;

export const TaskEventType = /* @__PURE__ */ pure(() =>
  z.enum(["queued", "started", "attempt_failed", "succeeded", "failed", "cancelled", "requeued"]),
);

export const TaskEvent = /* @__PURE__ */ pure(() =>
  z
    .object({
      at: z.string(),
      type: TaskEventType,
      attempt: z.number().int().optional(),
      message: z.string().optional(),
      error: TaskError.optional(),
      retryInSeconds: z.number().optional(),
    })
    .meta({ id: "TaskEvent" }),
);
export type TaskEvent = z.output<typeof TaskEvent>;

/** A task's params or result kept in object storage: its size, hash, type and where to download it. */
export const PayloadLink = /* @__PURE__ */ pure(() =>
  z
    .object({
      bytes: z.number().int().describe("Size of the JSON, UTF-8"),
      sha256: z.string().describe("SHA-256 of the JSON (hex)"),
      contentType: z.string(),
      href: z
        .string()
        .describe("GET with the same key: the JSON, or a redirect to a short-lived download URL (in AWS)"),
    })
    .meta({ id: "PayloadLink" }),
);
export type PayloadLink = z.output<typeof PayloadLink>;

/** What a task or a plan cost in AWS, estimated (cost.ts; README, Cost per task). */
export const CostEstimate = /* @__PURE__ */ pure(() =>
  z
    .object({
      usd: z.number().describe("US dollars, all items"),
      items: z
        .record(z.enum(COST_ITEMS), z.number())
        .describe(
          "US dollars by item: API Gateway, Lambda requests and duration, DynamoDB, SQS, Step Functions, logs, S3, X-Ray",
        ),
      basis: z.string().describe("How it was estimated, and what it leaves out"),
    })
    .meta({ id: "CostEstimate" }),
);
export type CostEstimate = z.output<typeof CostEstimate>;

export const Task = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      agentId: z.string(),
      action: z.string(),
      params: z.unknown(),
      status: TaskStatus,
      attempts: z.number().int(),
      maxAttempts: z.number().int(),
      result: z.unknown().optional(),
      paramsRef: PayloadLink.optional().describe(
        "Params kept in object storage (over 32 KB); `params` holds them only in GET /v1/tasks/{id}, up to 256 KB",
      ),
      resultRef: PayloadLink.optional().describe(
        "Result kept in object storage (over 32 KB); `result` holds it only in GET /v1/tasks/{id}, up to 256 KB",
      ),
      error: z.union([TaskError, z.null()]).describe("The last error; null while there is none"),
      idempotencyKey: z.string().nullable(),
      planId: z.string().nullable().describe("The plan this task runs a step of"),
      redriveOf: z.string().nullable().describe("The failed task this one redrives"),
      stepId: z.string().nullable(),
      createdAt: z.string(),
      updatedAt: z.string(),
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      events: z.array(TaskEvent),
      cost: CostEstimate.optional().describe(
        "What the task has cost so far in AWS, estimated from its attempts, writes and messages (not the action's own run time)",
      ),
    })
    .meta({ id: "Task" }),
);
export type Task = z.output<typeof Task>;

export const SubmitTaskInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      agentId: AgentId,
      action: ActionName,
      params: z.unknown().optional(),
      idempotencyKey: z
        .string()
        .min(1)
        .max(128)
        .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces")
        .optional(),
    })
    .meta({ id: "SubmitTaskInput" }),
);
export type SubmitTaskInput = z.output<typeof SubmitTaskInput>;

/** Tasks one batch submission may carry (within the API's 256 KB request body). */
export const MAX_BATCH_TASKS = 100;

export const SubmitTasksInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      tasks: z
        .array(SubmitTaskInput)
        .min(1)
        .max(MAX_BATCH_TASKS)
        .describe("The tasks, to any agents and actions, in the order their results are listed (1 to 100)"),
    })
    .meta({ id: "SubmitTasksInput" }),
);
export type SubmitTasksInput = z.output<typeof SubmitTasksInput>;

export const SubmittedTasks = /* @__PURE__ */ pure(() =>
  z
    .object({
      items: z
        .array(
          z.object({
            task: Task,
            replayed: z
              .boolean()
              .describe("true: the earlier task of this item's idempotencyKey; nothing new was queued for it"),
          }),
        )
        .describe("One per task submitted, in the order given"),
    })
    .meta({ id: "SubmittedTasks" }),
);
export type SubmittedTasks = z.output<typeof SubmittedTasks>;

export const PageLimit = /* @__PURE__ */ pure(() => z.coerce.number().int().min(1).max(100).default(25));

export const ListTasksQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({
    agentId: AgentId.optional(),
    status: TaskStatus.optional(),
    planId: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe(
        "Only the tasks of this plan's steps (its latest run's), read through the plan: 404 if there is no such plan",
      ),
    limit: PageLimit,
    cursor: z.string().max(2048).optional(),
  }),
);
export type ListTasksQuery = z.output<typeof ListTasksQuery>;

export const ListAgentsQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({
    limit: PageLimit,
    cursor: z.string().max(2048).optional(),
  }),
);
export type ListAgentsQuery = z.output<typeof ListAgentsQuery>;

export const Page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
