import { z } from "zod";
import { ParamsSchemaSchema } from "./params-schema.js";

/** Ids of agents: lower-case slug; built-in agents use their name as id. */
export const AgentId = z
  .string()
  .min(2)
  .max(40)
  .regex(/^[a-z][a-z0-9-]*[a-z0-9]$/, "must be a lower-case slug: letters, digits and dashes, starting with a letter")
  .refine((id) => !id.endsWith("-dlq"), "must not end in -dlq (reserved for dead-letter queues)");

export const ActionName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, "must be snake_case: lower-case letters, digits and underscores");

export const RetryPolicy = z
  .strictObject({
    maxAttempts: z.number().int().min(1).max(10).default(3).describe("Attempts before the task fails (default 3)"),
    backoffSeconds: z.number().int().min(0).max(300).default(2).describe("First retry delay; doubles each attempt"),
    maxBackoffSeconds: z.number().int().min(0).max(900).default(300).describe("Cap on the retry delay"),
  })
  .meta({ id: "RetryPolicy" });
export type RetryPolicy = z.output<typeof RetryPolicy>;

export const ActionSpec = z
  .strictObject({
    name: ActionName,
    description: z.string().max(1000).default(""),
    params: ParamsSchemaSchema.default({ type: "object" }).describe("JSON-schema-like schema of the action's params"),
    retry: RetryPolicy.default({ maxAttempts: 3, backoffSeconds: 2, maxBackoffSeconds: 300 }),
    timeoutSeconds: z.number().int().min(1).max(900).default(60),
  })
  .meta({ id: "ActionSpec" });
export type ActionSpec = z.output<typeof ActionSpec>;

export const QueueRef = z
  .object({ url: z.string(), arn: z.string(), dlqUrl: z.string(), dlqArn: z.string() })
  .meta({ id: "QueueRef" });
export type QueueRef = z.output<typeof QueueRef>;

export const AgentStatus = z.enum(["active", "inactive"]);

export const Agent = z
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
  })
  .meta({ id: "Agent" });
export type Agent = z.output<typeof Agent>;

export const RegisterAgentInput = z
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
      .refine((actions) => new Set(actions.map((a) => a.name)).size === actions.length, "action names must be unique"),
  })
  .meta({ id: "RegisterAgentInput" });
export type RegisterAgentInput = z.input<typeof RegisterAgentInput>;

export const TaskStatus = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);
export type TaskStatus = z.output<typeof TaskStatus>;
export const TERMINAL_STATUSES: readonly TaskStatus[] = ["succeeded", "failed", "cancelled"];

export const TaskError = z
  .object({ code: z.string(), message: z.string(), retriable: z.boolean() })
  .meta({ id: "TaskError" });
export type TaskError = z.output<typeof TaskError>;

export const TaskEventType = z.enum([
  "queued",
  "started",
  "attempt_failed",
  "succeeded",
  "failed",
  "cancelled",
  "requeued",
]);

export const TaskEvent = z
  .object({
    at: z.string(),
    type: TaskEventType,
    attempt: z.number().int().optional(),
    message: z.string().optional(),
    error: TaskError.optional(),
    retryInSeconds: z.number().optional(),
  })
  .meta({ id: "TaskEvent" });
export type TaskEvent = z.output<typeof TaskEvent>;

export const Task = z
  .object({
    id: z.string(),
    agentId: z.string(),
    action: z.string(),
    params: z.unknown(),
    status: TaskStatus,
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    result: z.unknown().optional(),
    error: TaskError.nullable(),
    idempotencyKey: z.string().nullable(),
    planId: z.string().nullable().describe("The plan this task runs a step of"),
    redriveOf: z.string().nullable().describe("The failed task this one redrives"),
    stepId: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    events: z.array(TaskEvent),
  })
  .meta({ id: "Task" });
export type Task = z.output<typeof Task>;

export const SubmitTaskInput = z
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
  .meta({ id: "SubmitTaskInput" });
export type SubmitTaskInput = z.output<typeof SubmitTaskInput>;

export const PageLimit = z.coerce.number().int().min(1).max(100).default(25);

export const ListTasksQuery = z.strictObject({
  agentId: AgentId.optional(),
  status: TaskStatus.optional(),
  limit: PageLimit,
  cursor: z.string().max(2048).optional(),
});
export type ListTasksQuery = z.output<typeof ListTasksQuery>;

export const ListAgentsQuery = z.strictObject({
  limit: PageLimit,
  cursor: z.string().max(2048).optional(),
});
export type ListAgentsQuery = z.output<typeof ListAgentsQuery>;

export const Page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
