import * as Agents from "./agents.js";
import type { Context } from "./context.js";
import { sendTaskMessage } from "./queues.js";
import type { QueueRef } from "./schemas.js";
import type { TaskRecord } from "./tasks.js";
import * as Tasks from "./tasks.js";
import { failAbandoned } from "./worker.js";

export interface SweepOptions {
  /**
   * How long a task may sit `queued` past its due time, or `running` past its lease, before its message is
   * presumed lost. 0 treats every unfinished task as lost: what the local runtime does at start, when its
   * in-memory queues are new and empty.
   */
  graceMs: number;
  /** Upper bound on tasks looked at per status in one sweep. */
  maxTasks?: number;
}

export interface SweepResult {
  scanned: number;
  requeued: number;
  failed: number;
}

/**
 * Finds tasks whose message was lost (queued too long) or whose worker died (running past its lease) and
 * puts them back on their agent's queue, or fails them when no attempts are left. Each change is a
 * conditional write, so sweeps running side by side, or racing a worker, never double-enqueue a task.
 */
export async function sweep(ctx: Context, options: SweepOptions): Promise<SweepResult> {
  const result: SweepResult = { scanned: 0, requeued: 0, failed: 0 };
  const cutoff = new Date(ctx.now().getTime() - options.graceMs).toISOString();
  const queues = new Map<string, QueueRef | undefined>();
  const queueOf = async (agentId: string) => {
    if (!queues.has(agentId)) {
      queues.set(agentId, ctx.builtinQueues[agentId] ?? (await Agents.find(ctx, agentId))?.queue);
    }
    return queues.get(agentId);
  };
  const maxTasks = options.maxTasks ?? 1000;

  for (const status of ["queued", "running"] as const) {
    let cursor: string | undefined;
    let seen = 0;
    do {
      const page = await Tasks.listRecords(ctx, { status, limit: 100, cursor });
      for (const record of page.items) {
        seen++;
        result.scanned++;
        const due = status === "queued" ? record.availableAt : (record.leaseUntil ?? record.updatedAt);
        const lost = options.graceMs === 0 || due < cutoff;
        if (!lost) continue;
        const queue = await queueOf(record.agentId);
        if (!queue) continue;
        if (record.attempts >= record.maxAttempts) {
          if (await failAbandoned(ctx, queue, record)) result.failed++;
        } else if (await requeue(ctx, queue, record)) {
          result.requeued++;
        }
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && seen < maxTasks);
  }
  return result;
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
