import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "../context.js";
import { batchPut, sendPut } from "./items.js";
import { SHARDS, shardKey, shardOf } from "./table.js";

/**
 * The change feed: one small item per event (task, plan, agent, schedule) under a time-bucketed, write-sharded
 * partition, `EVENTS#<hour>#<shard>`, sort key `<at>#<id>` (a position in the feed), expiring after
 * {@link FEED_RETENTION_HOURS}. A reader queries each shard of the hours it needs, oldest first, and merges.
 */
type Item = Record<string, unknown>;

/** How long events stay readable (TTL in AWS; locally the reader never looks further back). */
export const FEED_RETENTION_HOURS = 24;
/** Events are read up to this long before now, so one written a moment late (another writer's clock, a slow write) is still read. */
export const FEED_LAG_MS = 1000;
/** Hour buckets one read goes through at most; a reader far behind catches up over several reads. */
const MAX_BUCKETS_PER_READ = 6;

export const bucketOf = (at: string) => at.slice(0, 13); // 2026-12-07T00
const partitionOf = (bucket: string, shard: number) => shardKey(`EVENTS#${bucket}`, shard);
/** After every position of a bucket (`<bucket>:` is followed by digits in every position of that hour). */
const endOf = (bucket: string) => `${bucket}:~`;
/** The earliest of positions, by code unit (as DynamoDB orders sort keys; never by locale). */
const earliest = (...positions: string[]) => [...positions].sort()[0] as string;
const nextBucket = (bucket: string) =>
  new Date(Date.parse(`${bucket}:00:00.000Z`) + 3_600_000).toISOString().slice(0, 13);

export interface StoredEvent {
  id: string;
  at: string;
  [field: string]: unknown;
}

export function toItem(event: StoredEvent): Item {
  const position = `${event.at}#${event.id}`;
  return {
    PK: partitionOf(bucketOf(event.at), shardOf(event.id, SHARDS.events)),
    SK: position,
    ...event,
    expiresAt: Math.floor(Date.parse(event.at) / 1000) + FEED_RETENTION_HOURS * 3600,
  };
}

/**
 * Writes feed items (made by {@link toItem}) after a change: one PutItem each, in parallel (a change reports one or
 * two events), which every function that changes something may already call; no BatchWriteItem grant is needed.
 */
export async function putItems(ctx: Context, items: Item[]): Promise<void> {
  await Promise.all(items.map((item) => sendPut(ctx, item)));
}

/** Writes feed items gathered from several changes with BatchWriteItem, 25 a request (an agent's batch). */
export const putBatch = (ctx: Context, items: Item[]): Promise<void> => batchPut(ctx, items);

export interface FeedRead {
  /** The position after which to read (exclusive): `<at>#<id>` or a time. */
  after: string;
  limit: number;
  agentId?: string | undefined;
  kind?: string | undefined;
}

interface ShardRead {
  items: Item[];
  /** Every matching item up to here (inclusive) was read. */
  complete: string;
}

async function readShard(ctx: Context, partition: string, from: string, to: string, read: FeedRead) {
  const filters: string[] = [];
  const names: Record<string, string> = { "#sk": "SK" };
  const values: Record<string, unknown> = { ":pk": partition, ":from": from, ":to": to };
  if (read.agentId !== undefined) {
    filters.push("#agent = :agent");
    names["#agent"] = "agentId";
    values[":agent"] = read.agentId;
  }
  if (read.kind !== undefined) {
    filters.push("#kind = :kind");
    names["#kind"] = "kind";
    values[":kind"] = read.kind;
  }
  const out = await ctx.ddb.send(
    new QueryCommand({
      TableName: ctx.tableName,
      KeyConditionExpression: "PK = :pk AND #sk BETWEEN :from AND :to",
      ...(filters.length > 0 ? { FilterExpression: filters.join(" AND ") } : {}),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ScanIndexForward: true,
      Limit: read.limit + 1,
      ConsistentRead: true,
    }),
  );
  const last = out.LastEvaluatedKey?.SK;
  return { items: out.Items ?? [], complete: typeof last === "string" ? last : to } satisfies ShardRead;
}

/**
 * Events after a position, oldest first: each hour bucket from the position's on, every shard of it in parallel,
 * merged. Only what every shard has been read up to is returned (a shard's page may end early), so nothing is
 * skipped; the position returned is where the next read starts. Never past now minus {@link FEED_LAG_MS}.
 */
export async function read(ctx: Context, request: FeedRead): Promise<{ items: Item[]; position: string }> {
  const now = ctx.now().getTime();
  const upper = new Date(now - FEED_LAG_MS).toISOString();
  const oldest = new Date(now - FEED_RETENTION_HOURS * 3_600_000).toISOString();
  let position = earliest(request.after, oldest) === request.after ? oldest : request.after;
  const collected: Item[] = [];
  let bucket = bucketOf(position);
  for (let n = 0; n < MAX_BUCKETS_PER_READ && position < upper; n++, bucket = nextBucket(bucket)) {
    const to = earliest(endOf(bucket), upper);
    const shards = await Promise.all(
      Array.from({ length: SHARDS.events }, (_, shard) =>
        readShard(ctx, partitionOf(bucket, shard), position, to, {
          ...request,
          limit: request.limit - collected.length,
        }),
      ),
    );
    const frontier = earliest(to, ...shards.map((shard) => shard.complete));
    const from = position;
    const found = shards
      .flatMap((shard) => shard.items)
      .filter((item) => String(item.SK) > from && String(item.SK) <= frontier)
      .sort((a, b) => (String(a.SK) < String(b.SK) ? -1 : 1));
    const room = request.limit - collected.length;
    collected.push(...found.slice(0, room));
    if (found.length > room) {
      position = String(collected.at(-1)?.SK);
      break;
    }
    position = frontier;
    if (frontier < to || collected.length >= request.limit) break;
  }
  return { items: collected, position };
}
