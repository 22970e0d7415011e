import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import type { Context } from "./context.js";
import { newId } from "./ids.js";
import type { Page } from "./schemas.js";
import { type PageQuery, queryPage } from "./storage/query.js";

/** One mutating request: who, what, when, and how it ended. Written once; the API offers no way to change it. */
export const AuditRecord = z
  .object({
    id: z.string(),
    at: z.string(),
    keyId: z.string().nullable().describe("null when no valid key was presented"),
    role: z.string().nullable(),
    method: z.string(),
    route: z.string().describe("The route pattern, e.g. /v1/tasks/{id}/cancel"),
    path: z.string(),
    targetId: z.string().nullable(),
    status: z.number().int(),
    outcome: z.enum(["success", "denied", "rejected", "error"]),
    requestId: z.string(),
    sourceIp: z.string().nullable(),
  })
  .meta({ id: "AuditRecord" });
export type AuditRecord = z.output<typeof AuditRecord>;

export function outcomeOf(status: number): AuditRecord["outcome"] {
  if (status < 400) return "success";
  if (status === 401 || status === 403) return "denied";
  if (status < 500) return "rejected";
  return "error";
}

export type AuditEntry = Omit<AuditRecord, "id" | "at">;

/** The stored form of an audit record (for writes that batch it with the change it records). */
export function toItem(ctx: Context, entry: AuditEntry): Record<string, unknown> {
  const now = ctx.now();
  const full: AuditRecord = { id: newId("aud", now), at: now.toISOString(), ...entry };
  return { PK: `AUDIT#${full.id}`, SK: "AUDIT", GSI1PK: "AUDIT", GSI1SK: full.id, ...full };
}

export async function record(ctx: Context, entry: AuditEntry): Promise<void> {
  await ctx.ddb.send(
    new PutCommand({
      TableName: ctx.tableName,
      Item: toItem(ctx, entry),
      ConditionExpression: "attribute_not_exists(PK)",
    }),
  );
}

export function list(ctx: Context, query: PageQuery): Promise<Page<AuditRecord>> {
  return queryPage(ctx, { index: "GSI1", partition: "AUDIT", newestFirst: true, map: fromItem }, query);
}

function fromItem(item: Record<string, unknown>): AuditRecord {
  const { PK: _pk, SK: _sk, GSI1PK: _g, GSI1SK: _s, ...rest } = item;
  return rest as AuditRecord;
}
