import type { Context } from "../context.js";
import { getItem, IS_NEW, putItem } from "./items.js";
import { keys } from "./table.js";

/** What an idempotency key stands for: the task it created and the request it came with. */
export interface IdempotencyRecord {
  taskId: string;
  fingerprint: string;
}

export async function find(ctx: Context, key: string): Promise<IdempotencyRecord | undefined> {
  return (await getItem(ctx, keys.idempotency(key), { consistent: true })) as IdempotencyRecord | undefined;
}

/** Takes a key for a task; false when the key is held already. */
export async function claim(ctx: Context, key: string, held: IdempotencyRecord): Promise<boolean> {
  return putItem(ctx, { ...keys.idempotency(key), ...held, createdAt: ctx.now().toISOString() }, IS_NEW);
}
