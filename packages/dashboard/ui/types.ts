/**
 * The API's objects as the dashboard reads them: the SDK's types (packages/sdk, written for clients; only types are
 * imported, nothing of the SDK is bundled), with what the dashboard reads beyond them.
 */
import type * as Sdk from "@nexus/sdk/types";

export type { ApiKey, CostEstimate, Failure, Page, Plan, PlanStep, Schedule } from "@nexus/sdk/types";

/** An action's params schema (the JSON-schema-like subset Nexus accepts), as the form generator reads it. */
import type { ParamsSchema } from "../../core/src/params-schema.js";

export type { ParamsSchema };

export interface ActionSpec extends Omit<Sdk.ActionSpec, "params"> {
  params: ParamsSchema;
}

export interface Agent extends Omit<Sdk.Agent, "actions"> {
  actions: ActionSpec[];
}

export type { Task } from "@nexus/sdk/types";

export interface TaskLogs {
  taskId: string;
  attempts: Array<{
    attempt: number;
    startedAt: string;
    endedAt: string;
    dropped: number;
    lines: Array<{ at: string; level: string; message: string; data?: string }>;
  }>;
}
