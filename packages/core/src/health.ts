import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { GetQueueAttributesCommand, type QueueAttributeName } from "@aws-sdk/client-sqs";
import { QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import type { AgentSpec } from "./agents.js";
import * as Agents from "./agents.js";
import type { Context } from "./context.js";
import { isConditionalCheckFailed, NotFoundError, ValidationError } from "./errors.js";
import { parseParams } from "./params-schema.js";
import {
  type Agent,
  type AgentHealth,
  HealthSettings,
  type HealthStatus,
  type HealthTransition,
  Heartbeat,
  type Page,
  type QueueRef,
} from "./schemas.js";
import { keys } from "./storage/table.js";
import * as Tasks from "./tasks.js";
import type { ActionHandler, AgentEnvironment } from "./worker.js";

/**
 * Agent health: heartbeats (sent by remote agents, recorded from built-in agents' `health` tasks), the status
 * derived from them, the recorded status changes, queue depths, the per-agent metrics and the probe that
 * submits `health` tasks to the built-in agents.
 *
 * An agent is
 * - `unknown` until its first heartbeat;
 * - `offline` when its last heartbeat is older than `offlineIntervals` × its heartbeat interval;
 * - `degraded` when its heartbeat is late (older than `onlineIntervals` × the interval), when at least
 *   `errorRate` of its tasks failed in the last interval (with at least `minSamples` of them), when its last
 *   health check failed (`details.ok === false`), or when its dead-letter queue holds messages;
 * - `online` otherwise.
 *
 * Stored on the agent item: `lastHeartbeatAt`, `heartbeat` (the last one's metrics, JSON text) and
 * `healthState` (the recorded status, since when, and the last {@link MAX_TRANSITIONS} changes).
 */

/** The action every built-in agent implements: checks what it depends on; its task records a heartbeat. */
export const HEALTH_ACTION = "health";
/** Recorded status changes kept per agent. */
export const MAX_TRANSITIONS = 20;
/** Tasks looked at per status when a built-in agent's heartbeat is computed from its recent tasks. */
export const RECENT_TASKS = 100;

export const HealthParams = z.strictObject({
  intervalSeconds: z
    .number()
    .int()
    .min(10)
    .max(86_400)
    .optional()
    .describe("The heartbeat interval to record (the probe's); default the probe interval setting"),
});

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

/** The thresholds in force: the context's settings over the defaults. */
export function settingsOf(ctx: Context): HealthSettings {
  return HealthSettings.parse(ctx.settings.health ?? {});
}

/** What is recorded on the agent item: the status as last recorded and the recent changes. */
interface Recorded {
  status: HealthStatus;
  since: string;
  reason: string;
  transitions: HealthTransition[];
}

/** What this module reads of an agent item (an {@link Agent}, or the raw item of an update). */
export type Source = Pick<Agent, "id" | "queue" | "lastHeartbeatAt"> &
  Partial<Pick<Agent, "status">> & { heartbeat?: unknown; healthState?: unknown };

const RecordedSchema = z.object({
  status: z.enum(["online", "degraded", "offline", "unknown"]),
  since: z.string(),
  reason: z.string(),
  transitions: z.array(
    z.object({
      at: z.string(),
      from: z.enum(["online", "degraded", "offline", "unknown"]),
      to: z.enum(["online", "degraded", "offline", "unknown"]),
      reason: z.string(),
    }),
  ),
});

function recordedOf(source: Source): Recorded | undefined {
  const parsed = RecordedSchema.safeParse(source.healthState);
  return parsed.success ? parsed.data : undefined;
}

function heartbeatOf(source: Source): Heartbeat | null {
  if (typeof source.heartbeat !== "string" || !source.lastHeartbeatAt) return null;
  try {
    const parsed = Heartbeat.safeParse(JSON.parse(source.heartbeat));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export interface Depths {
  /** Waiting, in flight and delayed messages of the agent's queue. */
  queueDepth: number | null;
  /** Messages of its dead-letter queue (visible or being read). */
  dlqDepth: number | null;
}

const UNKNOWN_DEPTHS: Depths = { queueDepth: null, dlqDepth: null };

async function countMessages(ctx: Context, url: string, names: QueueAttributeName[]): Promise<number | null> {
  try {
    const out = await ctx.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }));
    return names.reduce((sum, name) => sum + (Number(out.Attributes?.[name] ?? 0) || 0), 0);
  } catch {
    return null; // the queue is gone, or SQS did not answer: depth unknown
  }
}

/** The depths of an agent's queue and DLQ (SQS's approximate counts); null where SQS did not answer. */
export async function depths(ctx: Context, queue: QueueRef): Promise<Depths> {
  const [queueDepth, dlqDepth] = await Promise.all([
    countMessages(ctx, queue.url, [
      "ApproximateNumberOfMessages",
      "ApproximateNumberOfMessagesNotVisible",
      "ApproximateNumberOfMessagesDelayed",
    ]),
    countMessages(ctx, queue.dlqUrl, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]),
  ]);
  return { queueDepth, dlqDepth };
}

export interface Evaluation {
  status: HealthStatus;
  reason: string;
  /** When this status began, where the rules say (a heartbeat's age crossing a threshold); else null. */
  startedAt: string | null;
}

/** `45 s`, `3 min 30 s`, `25 min`, `5 h 10 min`. */
function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  if (minutes < 120) return `${minutes} min`;
  return minutes % 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes / 60} h`;
}

/** Names of the failing checks a heartbeat's details report (a built-in agent's health task puts them there). */
function failingChecks(details: Record<string, unknown> | undefined): string[] {
  const checks = details?.checks;
  if (!Array.isArray(checks)) return [];
  return checks
    .filter((c): c is { name: string; ok: boolean } => typeof c?.name === "string" && c.ok === false)
    .map((c) => c.name.slice(0, 64));
}

/** The status an agent has now, from its last heartbeat and (when known) its DLQ depth. */
export function evaluate(
  input: { now: Date; lastHeartbeatAt: string | null; heartbeat: Heartbeat | null; dlqDepth: number | null },
  settings: HealthSettings,
): Evaluation {
  const { heartbeat, lastHeartbeatAt } = input;
  if (!heartbeat || !lastHeartbeatAt) return { status: "unknown", reason: "no heartbeat yet", startedAt: null };
  const last = Date.parse(lastHeartbeatAt);
  const interval = heartbeat.intervalSeconds * 1000;
  const age = Math.max(0, input.now.getTime() - last);
  const offlineAfter = settings.offlineIntervals * interval;
  if (age > offlineAfter) {
    return {
      status: "offline",
      reason: `no heartbeat for ${duration(age)} (offline after ${duration(offlineAfter)} without one)`,
      startedAt: new Date(last + offlineAfter).toISOString(),
    };
  }
  const reasons: string[] = [];
  let startedAt: string | null = null;
  const onlineWithin = settings.onlineIntervals * interval;
  if (age > onlineWithin) {
    reasons.push(`heartbeat late: the last one came ${duration(age)} ago, one is expected every ${duration(interval)}`);
    startedAt = new Date(last + onlineWithin).toISOString();
  }
  const samples = heartbeat.done + heartbeat.failed;
  if (samples >= settings.minSamples && heartbeat.failed / samples >= settings.errorRate) {
    reasons.push(`${heartbeat.failed} of ${samples} tasks failed in the last interval`);
  }
  if (heartbeat.details?.ok === false) {
    const failing = failingChecks(heartbeat.details);
    reasons.push(`its health check failed${failing.length ? ` (${failing.join(", ")})` : ""}`);
  }
  if (input.dlqDepth) {
    reasons.push(`${input.dlqDepth} message${input.dlqDepth === 1 ? "" : "s"} in its dead-letter queue`);
  }
  if (reasons.length > 0) return { status: "degraded", reason: reasons.join("; "), startedAt };
  return { status: "online", reason: `last heartbeat ${duration(age)} ago`, startedAt: null };
}

/** The `health` of an agent as the API shows it. Without depths (lists), the DLQ does not count. */
export function healthOf(source: Source, now: Date, settings: HealthSettings, depthsNow?: Depths): AgentHealth {
  const heartbeat = heartbeatOf(source);
  const lastHeartbeatAt = heartbeat ? (source.lastHeartbeatAt ?? null) : null;
  const d = depthsNow ?? UNKNOWN_DEPTHS;
  const evaluation = evaluate({ now, lastHeartbeatAt, heartbeat, dlqDepth: d.dlqDepth }, settings);
  const recorded = recordedOf(source);
  // An inactive agent is not probed and takes no work: say so where it explains the status.
  const inactive = source.status === "inactive" && evaluation.status !== "online";
  return {
    status: evaluation.status,
    reason: inactive ? `${evaluation.reason}; the agent is inactive` : evaluation.reason,
    since: recorded?.status === evaluation.status ? recorded.since : evaluation.startedAt,
    lastHeartbeatAt,
    heartbeat,
    queueDepth: d.queueDepth,
    dlqDepth: d.dlqDepth,
    transitions: [...(recorded?.transitions ?? [])].reverse(),
  };
}

/** An agent as the API shows it: its stored heartbeat fields replaced by `health`. */
function present(agent: Agent, health: AgentHealth): Agent {
  const { heartbeat: _heartbeat, healthState: _state, ...rest } = agent as Agent & Omit<Source, keyof Agent>;
  return { ...rest, health };
}

/** One agent with its full health: status, heartbeat, queue and DLQ depths (two SQS calls). */
export async function describe(ctx: Context, agent: Agent): Promise<Agent> {
  return present(agent, healthOf(agent, ctx.now(), settingsOf(ctx), await depths(ctx, agent.queue)));
}

/** The cheap variant for lists: status from the heartbeat alone (error rate, lateness); depths are null. */
export function summarize(ctx: Context, agent: Agent): Agent {
  return present(agent, healthOf(agent, ctx.now(), settingsOf(ctx)));
}

/** A page of agents, each with the cheap {@link summarize} health. */
export function summarizePage(ctx: Context, page: Page<Agent>): Page<Agent> {
  return { ...page, items: page.items.map((agent) => summarize(ctx, agent)) };
}

/**
 * Records a status change when the status now differs from the one recorded: one conditional write, so that
 * two writers (a heartbeat, the sweeper) never both record the same change. Returns the change, if recorded.
 * `unknown` is never recorded (it is what an agent without any record has).
 */
export async function recordStatus(
  ctx: Context,
  source: Source,
  evaluation: Evaluation,
): Promise<HealthTransition | undefined> {
  const previous = recordedOf(source);
  const from = previous?.status ?? "unknown";
  if (evaluation.status === from || evaluation.status === "unknown") return undefined;
  const now = ctx.now().toISOString();
  let at = evaluation.startedAt ?? now;
  if (previous && at < previous.since) at = previous.since;
  const transition: HealthTransition = { at, from, to: evaluation.status, reason: evaluation.reason.slice(0, 500) };
  const next: Recorded = {
    status: evaluation.status,
    since: at,
    reason: transition.reason,
    transitions: [...(previous?.transitions ?? []), transition].slice(-MAX_TRANSITIONS),
  };
  try {
    await ctx.ddb.send(
      new UpdateCommand({
        TableName: ctx.tableName,
        Key: keys.agent(source.id),
        UpdateExpression: "SET #state = :next",
        ConditionExpression: previous
          ? "attribute_exists(PK) AND #state.#status = :status AND #state.#since = :since"
          : "attribute_exists(PK) AND attribute_not_exists(#state)",
        ExpressionAttributeNames: {
          "#state": "healthState",
          ...(previous ? { "#status": "status", "#since": "since" } : {}),
        },
        ExpressionAttributeValues: {
          ":next": next,
          ...(previous ? { ":status": previous.status, ":since": previous.since } : {}),
        },
      }),
    );
    return transition;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return undefined; // recorded by another writer meanwhile, or deleted
    throw error;
  }
}

export interface HeartbeatReceipt {
  agentId: string;
  receivedAt: string;
  health: AgentHealth;
}

/**
 * Stores a heartbeat on the agent item (its time and metrics), then records a status change if there is one.
 * Bad metrics are a 400 naming the field; an unknown agent a 404.
 */
export async function heartbeat(ctx: Context, agentId: string, raw: unknown): Promise<HeartbeatReceipt> {
  const parsed = Heartbeat.safeParse(raw);
  if (!parsed.success) throw new ValidationError("heartbeat is not valid", parsed.error.issues);
  const receivedAt = ctx.now().toISOString();
  let item: Record<string, unknown> | undefined;
  try {
    const out = await ctx.ddb.send(
      new UpdateCommand({
        TableName: ctx.tableName,
        Key: keys.agent(agentId),
        UpdateExpression: "SET lastHeartbeatAt = :at, #hb = :hb",
        ConditionExpression: "attribute_exists(PK)",
        ExpressionAttributeNames: { "#hb": "heartbeat" },
        ExpressionAttributeValues: { ":at": receivedAt, ":hb": JSON.stringify(parsed.data) },
        ReturnValues: "ALL_NEW",
      }),
    );
    item = out.Attributes;
  } catch (error) {
    if (isConditionalCheckFailed(error)) throw new NotFoundError("agent", agentId);
    throw error;
  }
  const source = { ...item, id: agentId } as Source;
  const now = ctx.now();
  const settings = settingsOf(ctx);
  const d = await depths(ctx, source.queue);
  let health = healthOf(source, now, settings, d);
  // Without the DLQ's depth the status could be wrong: nothing is recorded then (the sweeper will).
  if (d.dlqDepth !== null) {
    const changed = await recordStatus(ctx, source, { status: health.status, reason: health.reason, startedAt: null });
    if (changed) health = { ...health, since: changed.at, transitions: [changed, ...health.transitions] };
  }
  return { agentId, receivedAt, health };
}

interface TaskSummary {
  id: string;
  action: string;
  finishedAt?: string;
}

/** The newest tasks of an agent in one status (ids, actions, finish times only): one Query on the GSI. */
async function recentTasks(ctx: Context, agentId: string, status: "running" | "succeeded" | "failed") {
  const out = await ctx.ddb.send(
    new QueryCommand({
      TableName: ctx.tableName,
      IndexName: "GSI4",
      KeyConditionExpression: "#pk = :pk",
      ProjectionExpression: "#id, #action, finishedAt",
      ExpressionAttributeNames: { "#pk": "GSI4PK", "#id": "id", "#action": "action" },
      ExpressionAttributeValues: { ":pk": keys.taskIndexes("", agentId, status).GSI4PK },
      ScanIndexForward: false,
      Limit: RECENT_TASKS,
    }),
  );
  return (out.Items ?? []) as TaskSummary[];
}

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

/** Whether a status counts as alive for the `AgentOnline` metric (a late or erring agent is still there). */
export const isAlive = (status: HealthStatus) => status === "online" || status === "degraded";

/**
 * One EMF record per agent (dimension `AgentId`): `AgentOnline` and `AgentDegraded` (0/1), `QueueDepth` and
 * `DlqDepth` (when known).
 */
export function emitMetrics(metrics: Metrics, agentId: string, status: HealthStatus, d: Depths): void {
  metrics.addDimension("AgentId", agentId);
  metrics.addMetric("AgentOnline", MetricUnit.Count, isAlive(status) ? 1 : 0);
  metrics.addMetric("AgentDegraded", MetricUnit.Count, status === "degraded" ? 1 : 0);
  if (d.queueDepth !== null) metrics.addMetric("QueueDepth", MetricUnit.Count, d.queueDepth);
  if (d.dlqDepth !== null) metrics.addMetric("DlqDepth", MetricUnit.Count, d.dlqDepth);
  metrics.publishStoredMetrics();
}
