import type { Context } from "../context.js";
import { keys } from "./table.js";
import { sendUpdate, updateItem } from "./update.js";

/**
 * Storage of counters: one item per key and minute (requests) and per capped action and UTC day (tasks), each
 * an atomic ADD. A counter outlives its window by an hour, then DynamoDB's TTL removes it (`expiresAt`).
 */

const expiresAt = (windowEnd: Date) => Math.floor(windowEnd.getTime() / 1000) + 3600;

/** Counts one task of a capped action in its day, refusing (false) when the day's count has reached `cap`. */
export async function spendCap(
  ctx: Context,
  counter: { name: string; day: string; windowEnd: Date },
  cap: number,
): Promise<boolean> {
  const updated = await updateItem(ctx, keys.capCounter(counter.name, counter.day), {
    set: { expiresAt: expiresAt(counter.windowEnd) },
    add: { count: 1 },
    condition: "attribute_not_exists(#n) OR #n < :limit",
    names: { "#n": "count" },
    values: { ":limit": cap },
  });
  return updated !== undefined;
}

/** Adds `n` requests of a key to its minute's count; the count now (with what other instances added). */
export async function addRequests(
  ctx: Context,
  counter: { keyId: string; minute: number; windowEnd: Date },
  n: number,
): Promise<number> {
  const out = await sendUpdate(
    ctx,
    keys.rateCounter(counter.keyId, counter.minute),
    { set: { expiresAt: expiresAt(counter.windowEnd) }, add: { count: n } },
    "UPDATED_NEW",
  );
  return Number(out.Attributes?.count ?? 0);
}
