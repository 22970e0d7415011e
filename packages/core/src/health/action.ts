import * as z from "zod";
import type { AgentSpec } from "../agents.js";
import * as Agents from "../agents.js";
import type { Context } from "../context.js";
import { parseParams } from "../params-schema.js";
import { pure } from "../pure.js";
import type { TaskSummary } from "../storage/tasks.js";
import * as TaskStore from "../storage/tasks.js";
import * as Tasks from "../tasks.js";
import type { ActionHandler, AgentEnvironment } from "../worker.js";
import { settingsOf } from "./evaluate.js";
import { heartbeat } from "./store.js";

/**
 * The `health` action every built-in agent implements (it runs the agent's checks and records its heartbeat), and
 * the probe that submits a `health` task to each built-in agent once per probe interval.
 */

/** The action every built-in agent implements: checks what it depends on; its task records a heartbeat. */
export const HEALTH_ACTION = "health";
/** Tasks looked at per status when a built-in agent's heartbeat is computed from its recent tasks. */
export const RECENT_TASKS = 100;

export const HealthParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    intervalSeconds: z
      .number()
      .int()
      .min(10)
      .max(86_400)
      .optional()
      .describe("The heartbeat interval to record (the probe's); default the probe interval setting"),
  }),
);

/** The `health` action's entry in a built-in agent's spec. */
export function actionSpec(timeoutSeconds: number, description: string): AgentSpec["actions"][number] {
  return {
    name: HEALTH_ACTION,
    description: `${description}. Returns {ok, checks: [{name, ok, detail}]} and records the agent's heartbeat`,
    params: {
      type: "object",
      properties: { intervalSeconds: { type: "integer", minimum: 10, maximum: 86_400 } },
      additionalProperties: false,
    },
    // A failed probe is not worth many retries: the next one comes within the probe interval.
    retry: { maxAttempts: 2, backoffSeconds: 5, maxBackoffSeconds: 30 },
    timeoutSeconds,
  };
}

/** The newest tasks of an agent in one status (ids, actions, finish times only): one Query on the GSI. */
const recentTasks = (ctx: Context, agentId: string, status: "running" | "succeeded" | "failed") =>
  TaskStore.newestOfAgent(ctx, agentId, status, RECENT_TASKS);

/**
 * A built-in agent's load and outcomes, from its {@link RECENT_TASKS} newest tasks per status (health tasks
 * left out): in flight now, succeeded and failed within the last interval, and its last success.
 */
export async function recentActivity(ctx: Context, agentId: string, intervalSeconds: number) {
  const since = new Date(ctx.now().getTime() - intervalSeconds * 1000).toISOString();
  const [running, succeeded, failed] = await Promise.all([
    recentTasks(ctx, agentId, "running"),
    recentTasks(ctx, agentId, "succeeded"),
    recentTasks(ctx, agentId, "failed"),
  ]);
  const work = (tasks: TaskSummary[]) => tasks.filter((t) => t.action !== HEALTH_ACTION);
  const recent = (tasks: TaskSummary[]) => work(tasks).filter((t) => (t.finishedAt ?? "") >= since);
  const last = work(succeeded)
    .filter((t): t is Required<TaskSummary> => typeof t.finishedAt === "string")
    .sort((a, b) => b.finishedAt.localeCompare(a.finishedAt))[0];
  return {
    load: work(running).length,
    done: recent(succeeded).length,
    failed: recent(failed).length,
    ...(last ? { lastSuccess: { taskId: last.id, at: last.finishedAt } } : {}),
  };
}

export interface HealthCheck {
  name: string;
  ok: boolean;
  /** What was found; never a secret's value. */
  detail: string;
}

const DETAIL_CHARS = 200;

/** Runs one named check: ok with what `run` says, or not ok with the error's message. */
export async function check(name: string, run: () => Promise<string> | string): Promise<HealthCheck> {
  try {
    return { name, ok: true, detail: String(await run()).slice(0, DETAIL_CHARS) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { name, ok: false, detail: message.slice(0, DETAIL_CHARS) };
  }
}

/**
 * A built-in agent's `health` action: runs its checks, then records the agent's heartbeat: its load and
 * recent outcomes (from its tasks), the interval it is probed at, and the checks (`details.ok`, `details.checks`).
 * A failing check is a result (`ok: false`), not a failed task: the agent is alive, and degraded.
 */
export function healthAction(
  env: AgentEnvironment,
  agentId: string,
  checks: (signal: AbortSignal) => Promise<HealthCheck[]>,
): ActionHandler {
  return async (params, { taskId, signal }) => {
    const { intervalSeconds } = parseParams(HealthParams, params ?? {});
    const results = await checks(signal);
    const ok = results.every((c) => c.ok);
    const interval = intervalSeconds ?? settingsOf(env.ctx).probeIntervalSeconds;
    const activity = await recentActivity(env.ctx, agentId, interval);
    const receipt = await heartbeat(env.ctx, agentId, {
      ...activity,
      intervalSeconds: interval,
      details: { ok, probe: taskId, checks: results },
    });
    env.logger.info("health checked", { taskId, ok, status: receipt.health.status });
    return { ok, checks: results };
  };
}

export interface ProbeResult {
  /** The probe interval slot this run belongs to (its start). */
  slot: string;
  submitted: Array<{ agentId: string; taskId: string; replayed: boolean }>;
  skipped: Array<{ agentId: string; reason: string }>;
  failed: Array<{ agentId: string; message: string }>;
}

/**
 * Submits a `health` task to each active built-in agent. Idempotent per probe interval: the task's
 * idempotency key names the agent and the interval slot, so a second run in the same slot submits nothing new.
 */
export async function probe(ctx: Context): Promise<ProbeResult> {
  const { probeIntervalSeconds } = settingsOf(ctx);
  const interval = probeIntervalSeconds * 1000;
  const slot = new Date(Math.floor(ctx.now().getTime() / interval) * interval).toISOString();
  const result: ProbeResult = { slot, submitted: [], skipped: [], failed: [] };
  for (const agentId of Object.keys(ctx.builtinQueues).sort()) {
    try {
      const agent = await Agents.find(ctx, agentId);
      if (!agent) {
        result.skipped.push({ agentId, reason: "not registered" });
      } else if (agent.status !== "active") {
        result.skipped.push({ agentId, reason: "inactive" });
      } else if (!agent.actions.some((a) => a.name === HEALTH_ACTION)) {
        result.skipped.push({ agentId, reason: `no '${HEALTH_ACTION}' action` });
      } else {
        const { task, replayed } = await Tasks.submit(ctx, {
          agentId,
          action: HEALTH_ACTION,
          params: { intervalSeconds: probeIntervalSeconds },
          idempotencyKey: `probe:${agentId}:${slot}`,
        });
        result.submitted.push({ agentId, taskId: task.id, replayed });
      }
    } catch (error) {
      result.failed.push({ agentId, message: error instanceof Error ? error.message : String(error) });
    }
  }
  return result;
}
