import * as z from "zod";
import type { Context } from "./context.js";
import { newId } from "./ids.js";
import { pure } from "./pure.js";
import type { Page } from "./schemas.js";
import * as Store from "./storage/audit.js";
import type { PageQuery } from "./storage/query.js";

/**
 * One mutating request: who, what, when, and how it ended; or, for requests refused before any key was
 * accepted (401) or over a rate limit (429), a count of them. Written once (a count only grows); the API offers
 * no way to change it.
 */
export const AuditRecord = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      at: z.string().describe("When the request (the first one counted) was made"),
      keyId: z.string().nullable().describe("null when no valid key was presented"),
      role: z.string().nullable(),
      method: z.string(),
      route: z.string().describe("The route pattern, e.g. /v1/tasks/{id}/cancel"),
      path: z.string(),
      targetId: z.string().nullable(),
      status: z.number().int(),
      outcome: z.enum(["success", "denied", "rejected", "error"]),
      requestId: z.string(),
      sourceIp: z.string().nullable().describe("The client's address as the platform saw it (never a header)"),
      count: z
        .number()
        .int()
        .describe(
          "How many requests this record stands for: 1, or for 401s and 429s all those from one source address " +
            "(and key) with that status in one minute; method, path and request id are the first one's",
        ),
      lastAt: z.string().describe("When the last request counted was made (`at` for a single request)"),
    })
    .meta({ id: "AuditRecord" }),
);
export type AuditRecord = z.output<typeof AuditRecord>;

export function outcomeOf(status: number): AuditRecord["outcome"] {
  if (status < 400) return "success";
  if (status === 401 || status === 403) return "denied";
  if (status < 500) return "rejected";
  return "error";
}

export type AuditEntry = Omit<AuditRecord, "id" | "at" | "count" | "lastAt">;

function recordOf(now: Date, entry: AuditEntry): AuditRecord {
  const at = now.toISOString();
  return { id: newId("aud", now), at, ...entry, count: 1, lastAt: at };
}

/** The stored form of an audit record (for writes that batch it with the change it records). */
export function toItem(ctx: Context, entry: AuditEntry): Record<string, unknown> {
  return Store.toItem(recordOf(ctx.now(), entry));
}

export async function record(ctx: Context, entry: AuditEntry): Promise<void> {
  await Store.create(ctx, recordOf(ctx.now(), entry));
}

/** Statuses a caller can produce without a usable key, or beyond its key's limit: counted, not recorded one by one. */
export const COUNTED_STATUSES: ReadonlySet<number> = new Set([401, 429]);

/** How long one count of refused requests runs. */
export const COUNT_WINDOW_MS = 60_000;

interface Batch {
  count: number;
  done: Promise<void>;
}

/** Per count: the batch still taking requests (not yet sent) and the end of the chain of writes. */
interface Lane {
  open?: Batch;
  tail: Promise<void>;
}

const lanes = new WeakMap<Context, Map<string, Lane>>();

/**
 * Counts a refused request (401, 429) in one record per status, source address, key and minute: an atomic ADD
 * on a single item, so a flood of refused requests adds no records, only to a count. One write of a count is in
 * flight at a time (per API instance); requests arriving meanwhile join the next one, so concurrent refused
 * requests share writes. Each request returns only once its count is stored: counts are exact.
 */
export function recordRefused(ctx: Context, entry: AuditEntry): Promise<void> {
  const now = ctx.now();
  const window = Math.floor(now.getTime() / COUNT_WINDOW_MS);
  const count = [entry.status, window, entry.sourceIp ?? "-", entry.keyId ?? "-"].join("#");
  let perContext = lanes.get(ctx);
  if (!perContext) {
    perContext = new Map();
    lanes.set(ctx, perContext);
  }
  const lane = perContext.get(count) ?? { tail: Promise.resolve() };
  if (lane.open) {
    lane.open.count++;
    return lane.open.done;
  }
  const batch: Batch = { count: 1, done: Promise.resolve() };
  batch.done = lane.tail.then(() => {
    if (lane.open === batch) lane.open = undefined;
    return addToCount(ctx, count, entry, batch.count, now);
  });
  const settled = batch.done.then(
    () => undefined,
    () => undefined,
  );
  lane.open = batch;
  lane.tail = settled;
  perContext.set(count, lane);
  const lanesOfContext = perContext;
  void settled.then(() => {
    if (lane.tail === settled) lanesOfContext.delete(count);
  });
  return batch.done;
}

async function addToCount(ctx: Context, count: string, entry: AuditEntry, n: number, first: Date): Promise<void> {
  const id = newId("aud", first);
  const { status, outcome, ...described } = entry;
  await Store.addToCount(ctx, count, {
    always: { lastAt: ctx.now().toISOString(), status, outcome },
    firstOnly: { ...described, id, at: first.toISOString() },
    n,
  });
}

export type AuditFilter = Store.AuditFilter;
export const FILTER_READ_BUDGET = Store.AUDIT_FILTER_READ_BUDGET;

/**
 * The audit trail newest first; with a filter (a key, an action), only the records that match, read with a bounded
 * budget per page: a page may then hold fewer records than its limit, even none, with a cursor to follow.
 */
export function list(ctx: Context, query: PageQuery, by: AuditFilter = {}): Promise<Page<AuditRecord>> {
  return Store.list(ctx, query, by);
}
