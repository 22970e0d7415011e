import type { Context } from "../context.js";
import type { ApiKey } from "../keys.js";
import type { Page } from "../schemas.js";
import { EXISTS, getItem, IS_NEW, sendPut, withoutNulls } from "./items.js";
import { type PageQuery, queryPage } from "./query.js";
import { keys, partitions } from "./table.js";
import { sendUpdate, updateAndRead } from "./update.js";

/** Storage of API keys: one item per key, holding the SHA-256 (hex) of the token; listed newest first. */

function fromItem(item: Record<string, unknown>): ApiKey {
  const key = { ...item };
  for (const field of ["PK", "SK", "GSI1PK", "GSI1SK", "hash"]) delete key[field];
  for (const field of ["agentId", "lastUsedAt", "expiresAt", "revokedAt", "rateLimitPerMinute"]) key[field] ??= null;
  return key as ApiKey;
}

/** Writes a new key with the hash of its token. */
export async function create(ctx: Context, key: ApiKey, hash: string): Promise<void> {
  const item = { ...keys.apiKey(key.id), ...keys.apiKeyIndexes(key.id, key.createdAt), ...withoutNulls(key), hash };
  await sendPut(ctx, item, IS_NEW);
}

/** A key with the hash of its token (hex), to verify a presented token against. */
export async function findWithHash(ctx: Context, id: string): Promise<{ key: ApiKey; hash?: string } | undefined> {
  const item = await getItem(ctx, keys.apiKey(id));
  return item ? { key: fromItem(item), ...(typeof item.hash === "string" ? { hash: item.hash } : {}) } : undefined;
}

export async function find(ctx: Context, id: string): Promise<ApiKey | undefined> {
  return (await findWithHash(ctx, id))?.key;
}

export function list(ctx: Context, query: PageQuery): Promise<Page<ApiKey>> {
  return queryPage(ctx, { index: "GSI1", partition: partitions.apiKeys, newestFirst: true, map: fromItem }, query);
}

/** Marks a key revoked; the key as it is now, or undefined when there is none or it was revoked already. */
export async function revoke(
  ctx: Context,
  id: string,
  change: { at: string; by: string },
): Promise<ApiKey | undefined> {
  return updateAndRead(
    ctx,
    keys.apiKey(id),
    {
      set: { revokedAt: change.at, revokedBy: change.by },
      condition: "attribute_exists(PK) AND attribute_not_exists(revokedAt)",
    },
    fromItem,
  );
}

/** Records when a key was last used; the key must exist. */
export async function touch(ctx: Context, id: string, at: string): Promise<void> {
  await sendUpdate(ctx, keys.apiKey(id), { set: { lastUsedAt: at }, condition: EXISTS.expression });
}
