import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "../context.js";
import { getItem, IS_NEW, putItem, sendPut } from "./items.js";

/**
 * Storage of backups: the whole table read page by page (a Scan: a backup reads everything, on an admin's request,
 * never on a listing's path) and items written back as they were, each only where nothing is stored under its key.
 * Also the one item that marks an import in progress, so an interrupted import can be run again.
 */

type Item = Record<string, unknown>;
export type ItemKey = { PK: string; SK: string };

export interface ScannedPage {
  items: Item[];
  /** Where the next page starts; undefined after the last. */
  next?: ItemKey;
}

/**
 * One page of the table in key order, read strongly consistent (each item as it is at the moment it is read: a
 * Scan is not a snapshot). `start`: the key of the last item of the previous page, or of any item already read.
 */
export async function scanPage(ctx: Context, start: ItemKey | undefined, limit: number): Promise<ScannedPage> {
  const out = await ctx.ddb.send(
    new ScanCommand({
      TableName: ctx.tableName,
      ConsistentRead: true,
      Limit: limit,
      ...(start ? { ExclusiveStartKey: start } : {}),
    }),
  );
  const next = out.LastEvaluatedKey as ItemKey | undefined;
  return { items: out.Items ?? [], ...(next ? { next: { PK: next.PK, SK: next.SK } } : {}) };
}

/** Writes an item as given unless one is stored under its key; false when one was (nothing is changed then). */
export function restoreItem(ctx: Context, item: Item): Promise<boolean> {
  return putItem(ctx, item, IS_NEW);
}

/** The import in progress (or done) in this deployment: which backup, since when, into what. */
export interface ImportMarker {
  backupId: string;
  startedAt: string;
  /** Whether the deployment held nothing of its own when the import began. */
  intoEmpty: boolean;
  completedAt?: string;
}

export const IMPORT_MARKER_KEY: ItemKey = { PK: "BACKUP#IMPORT", SK: "BACKUP" };

export async function importMarker(ctx: Context): Promise<ImportMarker | undefined> {
  const item = await getItem(ctx, IMPORT_MARKER_KEY, { consistent: true });
  if (!item) return undefined;
  const { PK: _pk, SK: _sk, ...marker } = item;
  return marker as unknown as ImportMarker;
}

/** Claims the deployment for an import; false when another import holds it already. */
export function claimImport(ctx: Context, marker: ImportMarker): Promise<boolean> {
  return putItem(ctx, { ...IMPORT_MARKER_KEY, ...marker }, IS_NEW);
}

/** Hands the deployment to another import (forced), or records the end of this one. */
export async function putImportMarker(ctx: Context, marker: ImportMarker): Promise<void> {
  await sendPut(ctx, { ...IMPORT_MARKER_KEY, ...marker });
}
