import type { Context } from "../context.js";
import { sendPut } from "./items.js";
import { queryAll } from "./query.js";
import { keys } from "./table.js";

/**
 * Task logs: one item per attempt beside the task's own (`PK=TASK#<id>`, `SK=LOG#<attempt>`), so the task item
 * stays bounded and the logs of every attempt are one Query.
 */
export interface LogLine {
  at: string;
  level: string;
  message: string;
  /** The line's extra fields as JSON text (redacted, truncated). */
  data?: string;
}

export interface AttemptLogRecord {
  attempt: number;
  startedAt: string;
  endedAt: string;
  lines: LogLine[];
  /** Lines left out (the oldest) to keep the attempt within its bounds. */
  dropped: number;
}

const logKey = (taskId: string, attempt: number) => ({
  PK: keys.task(taskId).PK,
  SK: `LOG#${String(attempt).padStart(4, "0")}`,
});

/** Writes an attempt's log (again: a repeated write of the same attempt replaces it). */
export async function put(ctx: Context, taskId: string, log: AttemptLogRecord): Promise<void> {
  await sendPut(ctx, { ...logKey(taskId, log.attempt), ...log, lines: JSON.stringify(log.lines) });
}

/** Every attempt's log of a task, first attempt first. */
export async function list(ctx: Context, taskId: string): Promise<AttemptLogRecord[]> {
  const items = await queryAll(ctx, {
    KeyConditionExpression: "PK = :pk AND begins_with(SK, :log)",
    ExpressionAttributeValues: { ":pk": keys.task(taskId).PK, ":log": "LOG#" },
    ConsistentRead: true,
  });
  return items.map((item) => ({
    attempt: Number(item.attempt),
    startedAt: String(item.startedAt),
    endedAt: String(item.endedAt),
    lines: typeof item.lines === "string" ? (JSON.parse(item.lines) as LogLine[]) : [],
    dropped: Number(item.dropped ?? 0),
  }));
}
