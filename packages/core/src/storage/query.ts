import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { Context } from "../context.js";
import { decodeCursor, encodeCursor, invalidCursor } from "../cursor.js";
import type { Page } from "../schemas.js";
import { batchGet } from "./items.js";
import { type GsiName, gsiKeys, shardKey } from "./table.js";

export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
}

/** A page of a sharded listing, which may start below a sort key (the cursor, when given, goes on from its own). */
export interface ShardedPageQuery extends PageQuery {
  /** Only entries whose sort key is less than this. */
  below?: string | undefined;
}

const isValidationException = (error: unknown) => error instanceof Error && error.name === "ValidationException";

/**
 * One page of an index partition: a single Query, with an opaque cursor bound to this partition (a cursor
 * from another listing, or edited to point elsewhere, is refused with a 400).
 */
export async function queryPage<T>(
  ctx: Context,
  options: { index: GsiName; partition: string; newestFirst: boolean; map: (item: Record<string, unknown>) => T },
  query: PageQuery,
): Promise<Page<T>> {
  const gsi = gsiKeys(options.index);
  const scope = `${options.index}:${options.partition}`;
  const start = decodeCursor(scope, query.cursor, ["PK", "SK", gsi.partitionKey, gsi.sortKey], {
    [gsi.partitionKey]: options.partition,
  });
  const out = await ctx.ddb
    .send(
      new QueryCommand({
        TableName: ctx.tableName,
        IndexName: options.index,
        KeyConditionExpression: "#pk = :pk",
        ExpressionAttributeNames: { "#pk": gsi.partitionKey },
        ExpressionAttributeValues: { ":pk": options.partition },
        ScanIndexForward: !options.newestFirst,
        Limit: query.limit,
        ExclusiveStartKey: start,
      }),
    )
    .catch((error: unknown) => {
      // The checks above should leave DynamoDB nothing to refuse; if it still refuses the start key, the
      // cursor is at fault, not the server.
      throw start && isValidationException(error) ? invalidCursor() : error;
    });
  return { items: (out.Items ?? []).map(options.map), nextCursor: encodeCursor(scope, out.LastEvaluatedKey) };
}

/** A Query's parameters, less the table (and the start key, which the query functions manage). */
export type QueryInput = Omit<QueryCommandInput, "TableName" | "ExclusiveStartKey">;

/** One Query: its first page of items (bounded by its `Limit`). */
export async function queryItems(ctx: Context, input: QueryInput): Promise<Record<string, unknown>[]> {
  const out = await ctx.ddb.send(new QueryCommand({ TableName: ctx.tableName, ...input }));
  return out.Items ?? [];
}

/** Every item a Query finds, page after page. */
export async function queryAll(ctx: Context, input: QueryInput): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await ctx.ddb.send(new QueryCommand({ TableName: ctx.tableName, ...input, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

type Item = Record<string, unknown>;

/** A listing over a write-sharded index partition (`<partition>#<shard>`, every shard under the same sort key). */
export interface ShardedListing<T> {
  index: string;
  keys: { readonly partitionKey: string; readonly sortKey: string };
  /** The partition without its shard. */
  partition: string;
  shards: number;
  /** The index holds keys only: the page's items are read from the table by key (BatchGetItem), in page order. */
  keysOnly?: boolean;
  map: (item: Item) => T;
  /** Drops an item read that no longer belongs (an index is eventually consistent: its status may have moved). */
  keep?: (item: T) => boolean;
}

interface Shard {
  partition: string;
  entries: Item[];
  next?: Record<string, unknown> | undefined;
  done: boolean;
}

/**
 * One page of a sharded listing, newest first: each shard is queried (in parallel) for its share of the page and
 * some, then again while its unseen entries could still be in the page; the entries are merged by sort key and
 * the first `limit` kept. The cursor is bound to the listing and holds the page's last sort key: the next page is
 * `sort key < last` in every shard. Cost and latency depend on the page size and the shards, not on how many
 * items the partition holds.
 */
export async function queryShardedPage<T>(
  ctx: Context,
  listing: ShardedListing<T>,
  query: ShardedPageQuery,
): Promise<Page<T>> {
  const { partitionKey: pk, sortKey: sk } = listing.keys;
  const scope = `${listing.index}:${listing.partition}`;
  const start = decodeCursor(scope, query.cursor, [pk, sk], { [pk]: listing.partition });
  const before = start?.[sk] ?? query.below;
  const shards: Shard[] = Array.from({ length: listing.shards }, (_, shard) => ({
    partition: shardKey(listing.partition, shard),
    entries: [],
    done: false,
  }));
  const sortOf = (entry: Item) => String(entry[sk]);
  const newestFirst = (a: Item, b: Item) => (sortOf(a) < sortOf(b) ? 1 : sortOf(a) > sortOf(b) ? -1 : 0);
  let limit = Math.min(query.limit, Math.ceil((2 * query.limit) / listing.shards) + 1);
  let merged: Item[] = [];
  for (let pending = shards; pending.length > 0; limit = query.limit) {
    await Promise.all(pending.map((shard) => readShard(ctx, listing, shard, before, limit)));
    merged = shards.flatMap((shard) => shard.entries).sort(newestFirst);
    const cutoff = merged.length >= query.limit ? sortOf(merged[query.limit - 1] as Item) : undefined;
    pending = shards.filter((shard) => {
      const last = shard.entries.at(-1);
      return !shard.done && (cutoff === undefined || last === undefined || sortOf(last) > cutoff);
    });
  }
  const page = merged.slice(0, query.limit);
  const last = page.at(-1);
  const more = merged.length > query.limit || shards.some((shard) => !shard.done);
  const items = listing.keysOnly ? await readByKey(ctx, page) : page;
  const mapped = items.map(listing.map);
  return {
    items: listing.keep ? mapped.filter(listing.keep) : mapped,
    nextCursor: more && last ? encodeCursor(scope, { [pk]: listing.partition, [sk]: sortOf(last) }) : null,
  };
}

/** Reads up to `limit` entries of a shard (those `filter` keeps); returns how many were read. */
async function readShard(
  ctx: Context,
  listing: { index: string; keys: { partitionKey: string; sortKey: string }; filter?: ItemFilter },
  shard: Shard,
  before: string | undefined,
  limit: number,
): Promise<number> {
  const filter = listing.filter;
  const out = await ctx.ddb
    .send(
      new QueryCommand({
        TableName: ctx.tableName,
        IndexName: listing.index,
        KeyConditionExpression: before === undefined ? "#pk = :pk" : "#pk = :pk AND #sk < :before",
        ...(filter ? { FilterExpression: filter.expression } : {}),
        ExpressionAttributeNames: {
          ...filter?.names,
          "#pk": listing.keys.partitionKey,
          ...(before === undefined ? {} : { "#sk": listing.keys.sortKey }),
        },
        ExpressionAttributeValues: {
          ...filter?.values,
          ":pk": shard.partition,
          ...(before === undefined ? {} : { ":before": before }),
        },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey: shard.next,
      }),
    )
    .catch((error: unknown) => {
      throw before !== undefined && isValidationException(error) ? invalidCursor() : error;
    });
  shard.entries.push(...(out.Items ?? []));
  shard.next = out.LastEvaluatedKey;
  shard.done = !out.LastEvaluatedKey;
  return out.ScannedCount ?? limit;
}

/** The items of index entries, by their table keys, in the entries' order (those gone since are left out). */
async function readByKey(ctx: Context, entries: Item[]): Promise<Item[]> {
  const keyOf = (item: Item) => `${String(item.PK)}\0${String(item.SK)}`;
  const found = await batchGet(
    ctx,
    entries.map((entry) => ({ PK: String(entry.PK), SK: String(entry.SK) })),
  );
  const byKey = new Map(found.map((item) => [keyOf(item), item]));
  return entries.flatMap((entry): Item[] => {
    const item = byKey.get(keyOf(entry));
    return item ? [item] : [];
  });
}

/** A condition on the items of a listing, checked by DynamoDB as it reads them (a Query's FilterExpression). */
export interface ItemFilter {
  expression: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
}

/**
 * One page of a sharded listing filtered on attributes no index holds, newest first. Each shard is read down its
 * partition with the filter applied (the filter saves transfer, not reads: DynamoDB reads every item it judges), and
 * at most `budget` items are read in all. The page holds the matches above the point every unfinished shard has been
 * read down to, at most `limit` of them, and the cursor resumes below it: a page may hold fewer than `limit` items,
 * even none, with a cursor to follow, when matches are sparse. Cost per request is bounded by the budget, not by how
 * many items the partition holds; following the cursors finds every match exactly once.
 */
export async function queryFilteredShardedPage<T>(
  ctx: Context,
  listing: Omit<ShardedListing<T>, "keysOnly"> & { filter: ItemFilter; budget: number },
  query: PageQuery,
): Promise<Page<T>> {
  const { partitionKey: pk, sortKey: sk } = listing.keys;
  const scope = `${listing.index}:${listing.partition}`;
  const start = decodeCursor(scope, query.cursor, [pk, sk], { [pk]: listing.partition });
  const before = start?.[sk] as string | undefined;
  const shards: Shard[] = Array.from({ length: listing.shards }, (_, shard) => ({
    partition: shardKey(listing.partition, shard),
    entries: [],
    done: false,
  }));
  const sortOf = (entry: Item | Record<string, unknown>) => String(entry[sk]);
  /** The sort key a shard has been read down to (inclusive); undefined when it is read to its end. */
  const frontier = (shard: Shard) => (shard.done || !shard.next ? undefined : sortOf(shard.next));
  // Every shard is read at least once, whatever the budget: a shard never read would pass for one read to its end.
  const budget = Math.max(listing.budget, listing.shards);
  let read = 0;
  let merged: Item[] = [];
  for (;;) {
    merged = shards.flatMap((shard) => shard.entries).sort((a, b) => (sortOf(a) < sortOf(b) ? 1 : -1));
    const cutoff = merged.length >= query.limit ? sortOf(merged[query.limit - 1] as Item) : undefined;
    // A shard is read on while it could still hold a match that belongs in the page.
    const pending = shards.filter((shard) => {
      if (shard.done) return false;
      const at = frontier(shard);
      return cutoff === undefined || at === undefined || at > cutoff;
    });
    const left = budget - read;
    if (pending.length === 0 || left < pending.length) break;
    const each = Math.max(1, Math.min(Math.max(query.limit, 25), Math.floor(left / pending.length)));
    const counts = await Promise.all(pending.map((shard) => readShard(ctx, listing, shard, before, each)));
    read += counts.reduce((a, n) => a + n, 0);
  }
  // Every shard has been read down to `boundary` (or to its end): matches at or above it are all known.
  const boundary = shards
    .map(frontier)
    .filter((at): at is string => at !== undefined)
    .sort()
    .at(-1);
  const known = boundary === undefined ? merged : merged.filter((entry) => sortOf(entry) >= boundary);
  const page = known.slice(0, query.limit);
  const resumeAt = known.length > query.limit ? sortOf(page.at(-1) as Item) : boundary;
  const mapped = page.map(listing.map);
  return {
    items: listing.keep ? mapped.filter(listing.keep) : mapped,
    nextCursor: resumeAt === undefined ? null : encodeCursor(scope, { [pk]: listing.partition, [sk]: resumeAt }),
  };
}
