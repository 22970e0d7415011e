import * as Agents from "./agents.js";
import { failAbandoned } from "./attempts.js";
import type { Context } from "./context.js";
import * as Health from "./health/index.js";
import { idsBefore } from "./ids.js";
import type { Logger } from "./log.js";
import * as Plans from "./plans/index.js";
import { heartbeat } from "./plans/report.js";
import { sendTaskMessage } from "./queues.js";
import type { Agent, QueueRef } from "./schemas.js";
import * as Sweeps from "./storage/sweeps.js";
import type { TaskRecord } from "./tasks.js";
import * as Tasks from "./tasks.js";

export interface SweepOptions {
  /** How long a task may sit `queued` past its due time before its message is presumed lost. */
  graceMs: number;
  /** How long a `running` task may outlive its lease before its worker is presumed gone (default `graceMs`). */
  leaseGraceMs?: number;
  /**
   * Upper bound on tasks looked at in one sweep (default: all of them); with a deadline, the next sweep goes on after
   * them.
   */
  maxTasks?: number;
  /**
   * A restart of the local runtime: its in-memory queues and in-process consumers are gone, so every queued task's
   * message is re-sent and every task a consumer of the old process ran is put back at once. A remote worker's
   * task under a live lease is left alone: that worker may still report it.
   */
  restart?: boolean;
  /** Only tasks last changed before this instant (ISO 8601) are touched: later changes belong to the living. */
  changedBefore?: string;
  /**
   * When to stop reading tasks, and in {@link run} plan runs too (milliseconds since the epoch, by the system clock):
   * the page in hand is finished and the rest left (`complete: false`) to the next sweep with a deadline, which goes on
   * from there (storage/sweeps.ts). Agents are looked at whatever the time.
   */
  deadline?: number;
}

export interface SweepResult {
  scanned: number;
  requeued: number;
  failed: number;
  /**
   * Tasks queued past the grace whose agent's queue still holds waiting messages: behind a backlog, not lost. They are
   * left for the consumer (a message re-sent for each would only lengthen the backlog); a plan step waiting on one
   * gets a heartbeat.
   */
  backlogged: number;
  /**
   * Whether the listing was read to its end (from where the last sweep cut short stopped, with a deadline): false when
   * `deadline` or `maxTasks` stopped the sweep first.
   */
  complete: boolean;
}

/** Conditional writes in flight at once while sweeping a page. */
const SWEEP_CONCURRENCY = 16;
/** Agents looked at side by side. */
const AGENT_CONCURRENCY = 8;

/**
 * How much later than its task's first status an id's time may be. An id's time is its creation time, at most one
 * clock step ahead of it (ids stay ordered through a clock stepping back, ids.ts); a task is due or leased no earlier
 * than it was created. So a task that can be lost at a cutoff has an id made before the cutoff plus this margin.
 */
const ID_CLOCK_MARGIN_MS = 60_000;

/**
 * Finds tasks whose message was lost (queued too long while their agent's queue has nothing waiting) or whose worker
 * died (running past its lease) and puts them back on their agent's queue, or fails them when no attempts are left.
 * Each change is a conditional write, so sweeps running side by side, or racing a worker, never double-enqueue a task.
 */
export async function sweep(ctx: Context, options: SweepOptions): Promise<SweepResult> {
  const result: SweepResult = { scanned: 0, requeued: 0, failed: 0, backlogged: 0, complete: true };
  const now = ctx.now().getTime();
  const queuedCutoff = new Date(now - options.graceMs).toISOString();
  const leaseCutoff = new Date(now - (options.leaseGraceMs ?? options.graceMs)).toISOString();
  const nowIso = new Date(now).toISOString();
  const queueOf = perAgent((agentId) => {
    const builtin = ctx.builtinQueues[agentId];
    return builtin ? Promise.resolve(builtin) : Agents.find(ctx, agentId).then((agent) => agent?.queue);
  });
  /**
   * Whether an agent's queue holds messages waiting to be received. A task queued past the grace is then most likely
   * behind them: only once nothing waits is its message presumed lost. Unknown (SQS did not answer) counts as nothing
   * waiting.
   */
  const hasBacklog = perAgent(async (agentId) => {
    const queue = await queueOf(agentId);
    return queue !== undefined && ((await Health.waitingMessages(ctx, queue)) ?? 0) > 0;
  });
  const isLost = (record: TaskRecord) => {
    if (options.changedBefore && record.updatedAt >= options.changedBefore) return false;
    if (record.status === "queued") return options.restart || record.availableAt < queuedCutoff;
    // A remote worker's claim (it holds a lease token) lives as long as its lease, whoever restarted.
    if (options.restart && !record.leaseToken) return true;
    const lease = record.leaseUntil ?? record.updatedAt;
    return options.restart ? lease < nowIso : lease < leaseCutoff;
  };
  const settle = async (record: TaskRecord) => {
    const queue = await queueOf(record.agentId);
    if (!queue) return;
    // After a restart the queues are new and empty; otherwise a queued task may just be waiting its turn.
    if (record.status === "queued" && !options.restart && (await hasBacklog(record.agentId))) {
      result.backlogged++;
      // A plan step waiting on the task hears that it waits its turn: its heartbeat must not run out in the queue.
      await heartbeat(ctx, record.taskToken);
      return;
    }
    if (record.attempts >= record.maxAttempts) {
      if (await failAbandoned(ctx, queue, record)) result.failed++;
    } else if (await requeue(ctx, queue, record)) {
      result.requeued++;
    }
  };
  const maxTasks = options.maxTasks ?? Number.POSITIVE_INFINITY;
  // The listing starts at the tasks created before the later cutoff (and the margin), so a sweep reads the tasks that
  // can be lost, not every task in flight (a young backlog is never read). After a restart every task is.
  const latest = now - Math.min(options.graceMs, options.leaseGraceMs ?? options.graceMs);
  const below = options.restart ? undefined : idsBefore("tsk", new Date(latest + ID_CLOCK_MARGIN_MS));
  // A sweep with a deadline goes on where the last one it cut short stopped, so the oldest tasks of a listing too long
  // for one sweep are reached too, by the next ones.
  const resumable = options.deadline !== undefined;
  const saved = resumable ? await Sweeps.getPosition(ctx, "tasks") : undefined;
  let cursor = saved?.cursor;
  let seen = 0;
  do {
    if (Sweeps.pastDeadline(options.deadline) || seen >= maxTasks) {
      result.complete = false;
      break;
    }
    const { page, from } = await Sweeps.readFrom(cursor, saved, (at) =>
      Tasks.listOpen(ctx, { limit: 100, below, ...(at ? { cursor: at } : {}) }),
    );
    cursor = from;
    seen += page.items.length;
    result.scanned += page.items.length;
    await inGroups(page.items.filter(isLost), SWEEP_CONCURRENCY, settle);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  if (resumable) {
    const position = !result.complete && cursor ? { status: "open", cursor } : undefined;
    if (position || saved) await Sweeps.setPosition(ctx, "tasks", position);
  }
  return result;
}

/** `fn` of every item, `size` at a time; the results in the items' order. */
async function inGroups<T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return results;
}

/** What `make` gives for an agent, asked once per agent (each sweep makes its own). */
function perAgent<T>(make: (agentId: string) => Promise<T>): (agentId: string) => Promise<T> {
  const made = new Map<string, Promise<T>>();
  return (agentId) => {
    let value = made.get(agentId);
    if (!value) {
      value = make(agentId);
      made.set(agentId, value);
    }
    return value;
  };
}

async function requeue(ctx: Context, queue: QueueRef, record: TaskRecord): Promise<boolean> {
  const at = ctx.now().toISOString();
  const message = record.status === "running" ? "worker lost; task put back on its queue" : "message lost; re-sent";
  const updated = await Tasks.transition(ctx, {
    task: record,
    to: "queued",
    set: { availableAt: at },
    remove: ["leaseUntil"],
    events: [{ at, type: "requeued", attempt: record.attempts, message }],
    condition: "#st = :st AND #n = :n AND #u = :u",
    names: { "#st": "status", "#n": "attempts", "#u": "updatedAt" },
    values: { ":st": record.status, ":n": record.attempts, ":u": record.updatedAt },
  });
  if (!updated) return false;
  await sendTaskMessage(ctx, queue.url, { taskId: record.id, attempt: record.attempts + 1 });
  return true;
}

export interface AgentSweepOptions {
  logger?: Logger;
}

export interface AgentSweepResult {
  checked: number;
  /** Status changes recorded by this sweep. */
  changed: Array<{ agentId: string; from: string; to: string; at: string }>;
  /** Consumers turned back to match their agent's status (on for active, off for inactive). */
  reconciled: Array<{ agentId: string; enabled: boolean }>;
  errors: Array<{ agentId: string; message: string }>;
}

/**
 * Looks at every agent: its queue and DLQ depths, the status they and its last heartbeat give (recording a
 * change, so "offline since" shows), one metrics record, and its consumer's state against its status. One
 * agent's fault is recorded in `errors` and the others are still looked at.
 */
export async function sweepAgents(ctx: Context, options: AgentSweepOptions = {}): Promise<AgentSweepResult> {
  const result: AgentSweepResult = { checked: 0, changed: [], reconciled: [], errors: [] };
  const settings = Health.settingsOf(ctx);
  let online = 0;
  const check = async (agent: Agent) => {
    try {
      result.checked++;
      const depths = await Health.depths(ctx, agent.queue);
      const health = Health.healthOf(agent, ctx.now(), settings, depths);
      const evaluation = { status: health.status, reason: health.reason, startedAt: health.since };
      const changed = depths.dlqDepth === null ? undefined : await Health.recordStatus(ctx, agent, evaluation);
      // A deactivated agent is not expected online, nor one not yet heard of (never probed): no offline alarm.
      const expected = agent.status !== "inactive" && health.status !== "unknown";
      Health.emitMetrics(agent.id, health.status, depths, expected);
      if (expected && Health.isAlive(health.status)) online++;
      const reconciled = await reconcileConsumer(ctx, agent.id);
      return { changed, reconciled };
    } catch (error) {
      options.logger?.error("agent check failed", { agentId: agent.id, error });
      return { error: error instanceof Error ? error.message : String(error) };
    }
  };
  // A few agents at a time: each costs two queue-depth requests, some a write, so a sweep's time grows with the
  // number of agents divided by this, not with their number.
  const agents = await Agents.all(ctx);
  const checks = await inGroups(agents, AGENT_CONCURRENCY, check);
  checks.forEach((outcome, i) => {
    const agentId = (agents[i] as Agent).id;
    if (outcome.error !== undefined) result.errors.push({ agentId, message: outcome.error });
    const { changed, reconciled } = outcome;
    if (changed) result.changed.push({ agentId, from: changed.from, to: changed.to, at: changed.at });
    if (reconciled !== undefined) result.reconciled.push({ agentId, enabled: reconciled });
  });
  Health.emitOnlineCount(online);
  if (result.changed.length > 0) options.logger?.info("agent health changed", { changed: result.changed });
  if (result.reconciled.length > 0) {
    options.logger?.warn("consumers did not match their agents' status; turned back", {
      reconciled: result.reconciled,
    });
  }
  return result;
}

/**
 * Turns an agent's consumer on or off when it disagrees with the agent's status (an inactive agent's event
 * source mapping enabled again by a deploy, or a poller resumed by hand). The status is read again right
 * before, so a deactivation racing the sweep is not undone. Returns the state set, or undefined if none was.
 */
async function reconcileConsumer(ctx: Context, agentId: string): Promise<boolean | undefined> {
  const consumers = ctx.consumers;
  if (!consumers?.enabled) return undefined;
  const enabled = await consumers.enabled(agentId);
  if (enabled === undefined) return undefined;
  const agent = await Agents.find(ctx, agentId);
  if (!agent) return undefined;
  const wanted = agent.status === "active";
  if (enabled === wanted) return undefined;
  await consumers.setEnabled(agentId, wanted);
  return wanted;
}

export interface RunResult extends SweepResult {
  agents: AgentSweepResult;
  plans: Plans.RecoverResult;
}

/**
 * What the scheduled sweeper does: tasks first (lost messages, dead workers), then plans (runs whose execution ended
 * without settling them), then agents (health, metrics, consumers).
 */
export async function run(
  ctx: Context,
  options: SweepOptions & AgentSweepOptions & { logger: Logger },
): Promise<RunResult> {
  const tasks = await sweep(ctx, options);
  const plans = await Plans.recover(ctx, {
    graceMs: options.graceMs,
    logger: options.logger,
    ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
  });
  const agents = await sweepAgents(ctx, options);
  return { ...tasks, plans, agents };
}
