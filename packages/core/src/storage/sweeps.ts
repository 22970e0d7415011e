import type { Context } from "../context.js";
import { ValidationError } from "../errors.js";
import { getItem, sendPut } from "./items.js";
import { keys } from "./table.js";

/**
 * Storage of sweep positions: where the last sweep of a listing that ran out of time stopped (the status it was
 * reading and the cursor of its next page), so the next sweep goes on from there instead of from the newest item
 * again. One item per listing (`tasks`, `plans`); a sweep that reaches the end leaves it empty.
 */

export type SweptListing = "tasks" | "plans";

export interface SweepPosition {
  status: string;
  /** The cursor of the page to read next; empty for the first page of `status`. */
  cursor: string;
}

export async function getPosition(ctx: Context, listing: SweptListing): Promise<SweepPosition | undefined> {
  const item = await getItem(ctx, keys.sweepPosition(listing), { consistent: true });
  return typeof item?.status === "string" && typeof item.cursor === "string"
    ? { status: item.status, cursor: item.cursor }
    : undefined;
}

/** Records where a listing stopped, or (undefined) that it reached its end. */
export async function setPosition(
  ctx: Context,
  listing: SweptListing,
  position: SweepPosition | undefined,
): Promise<void> {
  await sendPut(ctx, { ...keys.sweepPosition(listing), ...position, at: ctx.now().toISOString() });
}

/** Whether a sweep's deadline (milliseconds since the epoch, by the system clock) has come; never without one. */
export const pastDeadline = (deadline: number | undefined) => deadline !== undefined && Date.now() >= deadline;

/**
 * A page read from `cursor`, and the cursor it was read from: a saved position's cursor the listing no longer takes
 * (written by another version) starts the listing over.
 */
export async function readFrom<P>(
  cursor: string | undefined,
  saved: SweepPosition | undefined,
  read: (cursor: string | undefined) => Promise<P>,
): Promise<{ page: P; from: string | undefined }> {
  try {
    return { page: await read(cursor), from: cursor };
  } catch (error) {
    if (cursor === undefined || cursor !== saved?.cursor || !(error instanceof ValidationError)) throw error;
    return { page: await read(undefined), from: undefined };
  }
}
