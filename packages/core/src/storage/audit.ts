import type { AuditRecord } from "../audit.js";
import type { Context } from "../context.js";
import type { Page } from "../schemas.js";
import { IS_NEW, sendPut } from "./items.js";
import { type ItemFilter, type PageQuery, queryFilteredShardedPage, queryShardedPage } from "./query.js";
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

/** What a filtered listing of the audit trail may read per request (items judged, across every shard). */
export const AUDIT_FILTER_READ_BUDGET = 1000;

/** Records of one key (`keyId`) and/or one action (`method` and `route`); no index holds them, so they are filtered. */
export interface AuditFilter {
  keyId?: string | undefined;
  method?: string | undefined;
  route?: string | undefined;
}

export function list(ctx: Context, query: PageQuery, by: AuditFilter = {}): Promise<Page<AuditRecord>> {
  const listing = { index: "GSI1", keys: gsiKeys("GSI1"), partition: partitions.audit, shards: SHARDS.audit };
  const filter = filterOf(by);
  if (!filter) return queryShardedPage(ctx, { ...listing, map: fromItem }, query);
  return queryFilteredShardedPage(ctx, { ...listing, map: fromItem, filter, budget: AUDIT_FILTER_READ_BUDGET }, query);
}

function filterOf(by: AuditFilter): ItemFilter | undefined {
  const conditions = Object.entries(by).filter((entry): entry is [string, string] => entry[1] !== undefined);
  if (conditions.length === 0) return undefined;
  return {
    expression: conditions.map((_, i) => `#a${i} = :a${i}`).join(" AND "),
    names: Object.fromEntries(conditions.map(([name], i) => [`#a${i}`, name])),
    values: Object.fromEntries(conditions.map(([, value], i) => [`:a${i}`, value])),
  };
}

function fromItem(item: Record<string, unknown>): AuditRecord {
  const { PK: _pk, SK: _sk, GSI1PK: _g, GSI1SK: _s, ...rest } = item;
  // records written before counts existed stand for one request each
  return { count: 1, lastAt: rest.at, ...rest } as AuditRecord;
}
