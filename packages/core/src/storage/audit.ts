import type { AuditRecord } from "../audit.js";
import type { Context } from "../context.js";
import type { Page } from "../schemas.js";
import { IS_NEW, sendPut } from "./items.js";
import { type PageQuery, queryShardedPage } from "./query.js";
import { gsiKeys, keys, partitions, SHARDS } from "./table.js";
import { sendUpdate } from "./update.js";

/**
 * Storage of the audit trail: one item per recorded request, one per count of refused requests (status, source,
 * key and minute), both listed newest first in one sharded index partition. Items are written once and only counted
 * up.
 */

/** The stored form of an audit record (for writes that batch it with the change it records). */
export function toItem(record: AuditRecord): Record<string, unknown> {
  return { ...keys.audit(record.id), ...keys.auditIndexes(record.id), ...record };
}

/** Writes a new record. */
export async function create(ctx: Context, record: AuditRecord): Promise<void> {
  await sendPut(ctx, toItem(record), IS_NEW);
}

/** Writes a record built with {@link toItem} (its id is fresh). */
export async function put(ctx: Context, item: Record<string, unknown>): Promise<void> {
  await sendPut(ctx, item);
}

/**
 * Adds `n` to a count of refused requests, one atomic ADD on its item: what describes the requests (`firstOnly`,
 * the first one's) is set by the first write only, `always` by every write.
 */
export async function addToCount(
  ctx: Context,
  count: string,
  change: { always: Record<string, unknown>; firstOnly: Record<string, unknown> & { id: string }; n: number },
): Promise<void> {
  const { GSI1PK, GSI1SK } = keys.auditIndexes(change.firstOnly.id, count);
  const firstOnly = Object.entries({ ...change.firstOnly, GSI1SK });
  await sendUpdate(ctx, keys.auditCount(count), {
    set: { GSI1PK, ...change.always },
    setExpressions: firstOnly.map((_, i) => `#f${i} = if_not_exists(#f${i}, :f${i})`),
    add: { count: change.n },
    names: Object.fromEntries(firstOnly.map(([name], i) => [`#f${i}`, name])),
    values: Object.fromEntries(firstOnly.map(([, value], i) => [`:f${i}`, value])),
  });
}

export function list(ctx: Context, query: PageQuery): Promise<Page<AuditRecord>> {
  const listing = { index: "GSI1", keys: gsiKeys("GSI1"), partition: partitions.audit, shards: SHARDS.audit };
  return queryShardedPage(ctx, { ...listing, map: fromItem }, query);
}

function fromItem(item: Record<string, unknown>): AuditRecord {
  const { PK: _pk, SK: _sk, GSI1PK: _g, GSI1SK: _s, ...rest } = item;
  // records written before counts existed stand for one request each
  return { count: 1, lastAt: rest.at, ...rest } as AuditRecord;
}
