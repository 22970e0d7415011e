import { QueryCommand } from "@aws-sdk/lib-dynamodb";
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
