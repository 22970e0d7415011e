import type { Context } from "./context.js";
import { NexusError } from "./errors.js";
import { jsonDepth, MAX_JSON_DEPTH } from "./json-depth.js";
import { validateParams } from "./params-schema.js";
import { MAX_PAYLOAD_BYTES } from "./payloads.js";
import type { Agent } from "./schemas.js";
import * as AgentStore from "./storage/agents.js";

/**
 * Largest params a task takes (JSON, UTF-8): over 32 KB they are kept in object storage (payloads.ts). A client
 * sends at most the API's body limit; a plan step's params may be larger once its references are resolved.
 */
export const MAX_PARAMS_BYTES = MAX_PAYLOAD_BYTES;

/** The mistakes a target (agent, action, params) can have; the same code wherever a target is given. */
export type TargetIssueCode =
  | "params_too_large"
  | "params_too_deep"
  | "unknown_agent"
  | "unknown_action"
  | "invalid_params"
  | "agent_inactive";

export interface TargetIssue {
  /** Relative to the target: `agentId`, `action`, `params`, `params.<field>`. */
  path: string;
  code: TargetIssueCode;
  message: string;
}

export interface Target {
  agentId: string;
  action: string;
  params?: unknown;
}

export type Action = Agent["actions"][number];

export type CheckedTarget =
  | { ok: true; agent: Agent; action: Action; params: unknown }
  | { ok: false; agent?: Agent; action?: Action; issues: TargetIssue[] };

export interface CheckOptions {
  /** A params issue at this path is not one (yet): e.g. a plan step's reference, known only at dispatch. */
  ignoreParamsIssue?: (path: string) => boolean;
}

/**
 * "Is this a target a task can be submitted to?", one rule for tasks, plan steps and schedules. In this order, and
 * stopping at the first of the first four: params too large, params too deep, unknown agent, unknown action; then
 * every params issue against the action's schema, then an inactive agent.
 */
export async function checkTarget(ctx: Context, target: Target, options: CheckOptions = {}): Promise<CheckedTarget> {
  const params = target.params ?? {};
  if (Buffer.byteLength(JSON.stringify(params), "utf8") > MAX_PARAMS_BYTES) {
    return refused({ path: "params", code: "params_too_large", message: `params exceed ${MAX_PARAMS_BYTES} bytes` });
  }
  if (jsonDepth(params, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    return refused({
      path: "params",
      code: "params_too_deep",
      message: `params nest deeper than ${MAX_JSON_DEPTH} levels`,
    });
  }
  const agent = await AgentStore.getRecent(ctx, target.agentId).catch((error: unknown) => {
    if (error instanceof NexusError && error.status === 404) return undefined;
    throw error;
  });
  if (!agent) {
    return refused({ path: "agentId", code: "unknown_agent", message: `unknown agent '${target.agentId}'` });
  }
  const action = agent.actions.find((a) => a.name === target.action);
  if (!action) {
    const available = agent.actions.map((a) => a.name).join(", ");
    const message = `agent '${agent.id}' has no action '${target.action}' (it has: ${available})`;
    return { ok: false, agent, issues: [{ path: "action", code: "unknown_action", message }] };
  }
  const issues: TargetIssue[] = validateParams(action.params, params)
    .filter((issue) => !options.ignoreParamsIssue?.(issue.path))
    .map((issue) => ({ ...issue, code: "invalid_params" as const }));
  if (agent.status !== "active") {
    const message = `agent '${agent.id}' is inactive and accepts no new tasks`;
    issues.push({ path: "agentId", code: "agent_inactive", message });
  }
  return issues.length > 0 ? { ok: false, agent, action, issues } : { ok: true, agent, action, params };
}

const refused = (issue: TargetIssue): CheckedTarget => ({ ok: false, issues: [issue] });
