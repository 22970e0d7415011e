import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { Context } from "../context.js";
import { decodeCursor, encodeCursor, invalidCursor } from "../cursor.js";
import type { Page } from "../schemas.js";
import { type GsiName, gsiKeys } from "./table.js";

export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
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
