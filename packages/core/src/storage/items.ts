import { BatchGetCommand, BatchWriteCommand, DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "../context.js";
import { isConditionalCheckFailed } from "../errors.js";

type Item = Record<string, unknown>;
type Key = Record<string, string>;

/** A condition on the item as it is, with the names and values it uses. */
export interface Condition {
  expression: string;
  names?: Record<string, string>;
  values?: Record<string, unknown>;
}

/** The item must not exist yet. */
export const IS_NEW: Condition = { expression: "attribute_not_exists(PK)" };
/** The item must exist. */
export const EXISTS: Condition = { expression: "attribute_exists(PK)" };

const conditionParams = (condition: Condition | undefined) =>
  condition
    ? {
        ConditionExpression: condition.expression,
        ...(condition.names ? { ExpressionAttributeNames: condition.names } : {}),
        ...(condition.values ? { ExpressionAttributeValues: condition.values } : {}),
      }
    : {};

/** Nullable fields are stored absent, so `if_not_exists` and `attribute_exists` can see them. */
export function withoutNulls(record: object): Item {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null && value !== undefined));
}

/** A ProjectionExpression reading only `attributes`. */
const projection = (attributes: readonly string[] | undefined) =>
  attributes
    ? {
        ProjectionExpression: attributes.map((_, i) => `#p${i}`).join(", "),
        ExpressionAttributeNames: Object.fromEntries(attributes.map((name, i) => [`#p${i}`, name])),
      }
    : {};

export interface ReadOptions {
  /** A strongly consistent read. */
  consistent?: boolean;
  /** Only these attributes. */
  attributes?: readonly string[];
}

/** One GetItem. */
export async function getItem(ctx: Context, key: Key, options: ReadOptions = {}): Promise<Item | undefined> {
  const out = await ctx.ddb.send(
    new GetCommand({
      TableName: ctx.tableName,
      Key: key,
      ...(options.consistent ? { ConsistentRead: true } : {}),
      ...projection(options.attributes),
    }),
  );
  return out.Item;
}

/** One PutItem; a condition that does not hold is thrown (ConditionalCheckFailedException). */
export async function sendPut(ctx: Context, item: Item, condition?: Condition): Promise<void> {
  await ctx.ddb.send(new PutCommand({ TableName: ctx.tableName, Item: item, ...conditionParams(condition) }));
}

/** One conditional PutItem; false when its condition did not hold. */
export async function putItem(ctx: Context, item: Item, condition: Condition): Promise<boolean> {
  try {
    await sendPut(ctx, item, condition);
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}

/** One conditional DeleteItem; false when its condition did not hold. */
export async function deleteItem(ctx: Context, key: Key, condition: Condition): Promise<boolean> {
  try {
    await ctx.ddb.send(new DeleteCommand({ TableName: ctx.tableName, Key: key, ...conditionParams(condition) }));
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}

/** Retries of what a batch left unprocessed (throttling). */
const BATCH_ATTEMPTS = 5;

/**
 * Puts items with BatchWriteItem (25 per request), retrying what DynamoDB leaves unprocessed (throttling) a
 * few times.
 */
export async function batchPut(ctx: Context, items: Item[]) {
  for (let start = 0; start < items.length; start += 25) {
    let requests = items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; requests.length > 0; attempt++) {
      if (attempt === BATCH_ATTEMPTS) {
        throw new Error(`${requests.length} items stayed unprocessed after ${attempt} batch writes`);
      }
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      const out = await ctx.ddb.send(new BatchWriteCommand({ RequestItems: { [ctx.tableName]: requests } }));
      requests = (out.UnprocessedItems?.[ctx.tableName] ?? []) as typeof requests;
    }
  }
}

/** Reads items by key with BatchGetItem (100 per request), asking again for what DynamoDB left unprocessed. */
export async function batchGet(ctx: Context, keys: Key[], options: ReadOptions = {}): Promise<Item[]> {
  const found: Item[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    let requested: Item[] = keys.slice(i, i + 100);
    for (let attempt = 0; requested.length > 0 && attempt < BATCH_ATTEMPTS; attempt++) {
      const out = await ctx.ddb.send(
        new BatchGetCommand({
          RequestItems: {
            [ctx.tableName]: {
              Keys: requested,
              ...(options.consistent ? { ConsistentRead: true } : {}),
              ...projection(options.attributes),
            },
          },
        }),
      );
      found.push(...(out.Responses?.[ctx.tableName] ?? []));
      requested = (out.UnprocessedKeys?.[ctx.tableName]?.Keys ?? []) as Item[];
    }
  }
  return found;
}

/** The `status` of each item that exists, by its `id` (BatchGet, 100 at a time; only those two attributes read). */
export async function statusesOf(ctx: Context, keys: Key[]): Promise<Map<string, string>> {
  const items = await batchGet(ctx, keys, { attributes: ["id", "status"] });
  return new Map(items.map((item) => [String(item.id), String(item.status)]));
}

/** The `status` of an item as it is now (a strongly consistent read of that attribute). */
export async function statusOf(ctx: Context, key: Key): Promise<string | undefined> {
  const item = await getItem(ctx, key, { consistent: true, attributes: ["status"] });
  return item?.status as string | undefined;
}
