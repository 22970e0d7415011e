import { CreateTableCommand, DescribeTableCommand, type DescribeTableCommandOutput } from "@aws-sdk/client-dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createTableInput, INDEXES } from "./table.js";

/** A table whose indexes are not the ones this version reads and writes (a data directory of an earlier one). */
export class TableLayoutError extends Error {
  override name = "TableLayoutError";
}

/**
 * Creates the table as {@link createTableInput} describes it (the local runtime, the admin CLI), or checks that
 * the one there has every index. A table from before the task listings had indexes of their own is refused:
 * its task items carry none of their keys, so no listing (and no start-up recovery) would find its tasks.
 * `where` names what holds the table (a data directory), for the message.
 */
export async function ensureTable(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  where: string,
): Promise<"created" | "exists"> {
  let existing: string[];
  try {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    existing = (Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName ?? "");
  } catch (error) {
    if ((error as Error).name !== "ResourceNotFoundException") throw error;
    await ddb.send(new CreateTableCommand(createTableInput(tableName)));
    await untilActive(ddb, tableName);
    return "created";
  }
  const missing = INDEXES.map((index) => index.name).filter((name) => !existing.includes(name));
  if (missing.length > 0) {
    throw new TableLayoutError(
      `The table ${tableName} in ${where} was made by an earlier version of Nexus: it lacks the indexes ` +
        `${missing.join(", ")}, so its tasks could not be listed or recovered. Move ${where} aside (or delete it) ` +
        "and start again with an empty one; the data in it is not migrated.",
    );
  }
  return "exists";
}

/**
 * Waits until a new table is ACTIVE: the emulator, like DynamoDB, refuses reads and writes while it is CREATING (its
 * CreateTable answers before the table is usable, even with no creation delay).
 */
export async function untilActive(
  ddb: { send(command: DescribeTableCommand): Promise<DescribeTableCommandOutput> },
  tableName: string,
): Promise<void> {
  for (let wait = 5; ; wait = Math.min(wait * 2, 1000)) {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === "ACTIVE") return;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
