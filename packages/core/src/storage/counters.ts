import type { Context } from "../context.js";
import { keys } from "./table.js";
import { sendUpdate, updateItem } from "./update.js";

/**
 * Storage of counters: one item per key and minute (requests) and per capped action and UTC day (tasks), each
 * an atomic ADD. A counter outlives its window by an hour, then DynamoDB's TTL removes it (`expiresAt`).
 */

const expiresAt = (windowEnd: Date) => Math.floor(windowEnd.getTime() / 1000) + 3600;

/** Counts `n` tasks of a capped action in its day, refusing (false, counting none) when that would pass `cap`. */
export async function spendCap(
  ctx: Context,
  counter: { name: string; day: string; windowEnd: Date },
  cap: number,
  n = 1,
): Promise<boolean> {
  if (n > cap) return false;
  const updated = await updateItem(ctx, keys.capCounter(counter.name, counter.day), {
    set: { expiresAt: expiresAt(counter.windowEnd) },
    add: { count: n },
    condition: "attribute_not_exists(#n) OR #n <= :limit",
    names: { "#n": "count" },
    values: { ":limit": cap - n },
  });
  return updated !== undefined;
}

/** Adds `n` requests of a key to its minute's count; the count now (with what other instances added). */
/** Gives back `n` tasks spent from a cap's day (a batch refused after it spent them). */
export async function giveBackCap(ctx: Context, counter: { name: string; day: string }, n: number): Promise<void> {
  await sendUpdate(ctx, keys.capCounter(counter.name, counter.day), { add: { count: -n } });
}

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
