import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "../context.js";
import { decodeCursor, encodeCursor } from "../cursor.js";
import type { Page } from "../schemas.js";
import { type GsiName, gsiKeys } from "./table.js";

export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
}

/**
 * One page of an index partition: a single Query, with an opaque cursor bound to this partition (a cursor
 * from another listing is refused with a 400).
 */
export async function queryPage<T>(
  ctx: Context,
  options: { index: GsiName; partition: string; newestFirst: boolean; map: (item: Record<string, unknown>) => T },
  query: PageQuery,
): Promise<Page<T>> {
  const gsi = gsiKeys(options.index);
  const scope = `${options.index}:${options.partition}`;
  const out = await ctx.ddb.send(
    new QueryCommand({
      TableName: ctx.tableName,
      IndexName: options.index,
      KeyConditionExpression: "#pk = :pk",
      ExpressionAttributeNames: { "#pk": gsi.partitionKey },
      ExpressionAttributeValues: { ":pk": options.partition },
      ScanIndexForward: !options.newestFirst,
      Limit: query.limit,
      ExclusiveStartKey: decodeCursor(scope, query.cursor, ["PK", "SK", gsi.partitionKey, gsi.sortKey]),
    }),
  );
  return { items: (out.Items ?? []).map(options.map), nextCursor: encodeCursor(scope, out.LastEvaluatedKey) };
}
