import type { Context } from "../context.js";
import type { Failure, FailureStatus, ListFailuresQuery } from "../failures.js";
import type { Page } from "../schemas.js";
import { getItem, IS_NEW, putItem, withoutNulls } from "./items.js";
import { queryPage } from "./query.js";
import { keys, partitions } from "./table.js";
import { updateItem } from "./update.js";

/**
 * Storage of the failures inbox: one item per failure, listed newest first by status, and by agent and status;
 * a redrive moves it from the `open` partitions to the `redriven` ones.
 */

const ITEM_FIELDS = ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"];

function fromItem(item: Record<string, unknown>): Failure {
  const failure: Record<string, unknown> = { ...item };
  for (const field of ITEM_FIELDS) delete failure[field];
  for (const field of ["action", "taskId", "planId", "redrivenAt", "redrivenBy", "redriveTaskId"]) {
    failure[field] ??= null;
  }
  return failure as unknown as Failure;
}

/** Writes a new failure; false when it is recorded already (a message ingested twice is the same failure). */
export function create(ctx: Context, failure: Failure): Promise<boolean> {
  const item = {
    ...keys.failure(failure.id),
    ...keys.failureIndexes(failure, failure.status),
    ...withoutNulls(failure),
  };
  return putItem(ctx, item, IS_NEW);
}

export async function find(ctx: Context, id: string): Promise<Failure | undefined> {
  const item = await getItem(ctx, keys.failure(id), { consistent: true });
  return item ? fromItem(item) : undefined;
}

export function list(ctx: Context, query: ListFailuresQuery): Promise<Page<Failure>> {
  const { agentId, status } = query;
  const [index, partition] =
    agentId === undefined
      ? (["GSI1", partitions.failures(status)] as const)
      : (["GSI2", partitions.failuresOfAgent(agentId, status)] as const);
  return queryPage(ctx, { index, partition, newestFirst: true, map: fromItem }, query);
}

/** open → redriven, once (with the new task, if any); false when it was not open any more. */
export async function markRedriven(
  ctx: Context,
  failure: Failure,
  redrive: { at: string; by: string; taskId: string | null },
): Promise<boolean> {
  const moved = keys.failureIndexes(failure, "redriven" satisfies FailureStatus);
  const updated = await updateItem(ctx, keys.failure(failure.id), {
    set: {
      status: "redriven",
      redrivenAt: redrive.at,
      redrivenBy: redrive.by,
      GSI1PK: moved.GSI1PK,
      GSI2PK: moved.GSI2PK,
      ...(redrive.taskId ? { redriveTaskId: redrive.taskId } : {}),
    },
    condition: "#status = :open",
    names: { "#status": "status" },
    values: { ":open": "open" },
  });
  return updated !== undefined;
}
