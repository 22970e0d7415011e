import * as z from "zod";
import { AsyncSlot } from "./async-slot.js";
import type { Context } from "./context.js";
import { ValidationError } from "./errors.js";
import { newId } from "./ids.js";
import { pure } from "./pure.js";
import { AgentId } from "./schemas.js";
import * as Store from "./storage/events.js";

/**
 * The change feed of the whole system: what happened to tasks, plans, agents and schedules, oldest first after a
 * cursor (`GET /v1/events`). Each event is written next to the change it reports (in the same batch where the
 * change is a batch, right after its conditional write otherwise) as a small item that expires after a day; the
 * item that changed keeps its own event trail, which stays the record of truth.
 */

export const EventKind = /* @__PURE__ */ pure(() => z.enum(["task", "plan", "agent", "schedule"]));
export type EventKind = z.output<typeof EventKind>;

export const FeedEvent = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      cursor: z.string().describe("Pass as `after` to read what came after this event"),
      at: z.string(),
      kind: EventKind,
      type: z.string().describe("What happened, e.g. queued, started, succeeded, failed, approved, deactivated, run"),
      agentId: z.string().optional(),
      action: z.string().optional(),
      taskId: z.string().optional(),
      planId: z.string().optional(),
      stepId: z.string().optional(),
      scheduleId: z.string().optional(),
      attempt: z.number().int().optional(),
      message: z.string().optional(),
    })
    .meta({ id: "FeedEvent" }),
);
export type FeedEvent = z.output<typeof FeedEvent>;

export const EventPage = /* @__PURE__ */ pure(() =>
  z
    .object({
      items: z.array(FeedEvent),
      nextCursor: z.string().describe("Where the next read starts (always set: the feed goes on)"),
    })
    .meta({ id: "EventPage" }),
);
export type EventPage = z.output<typeof EventPage>;

export const ListEventsQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({
    after: z.string().max(200).optional().describe("A cursor from an earlier page or event"),
    since: z.iso
      .datetime()
      .optional()
      .describe("Without `after`: start at this time (default: an hour ago; at most 24 hours back)"),
    agentId: AgentId.optional(),
    kind: EventKind.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(100),
  }),
);
export type ListEventsQuery = z.output<typeof ListEventsQuery>;

/** What a change reports: everything but the id and time, which publishing adds. */
export type NewEvent = Omit<FeedEvent, "id" | "cursor" | "at">;

const POSITION = /^\d{4}-\d\d-\d\dT\d\d:(~|\d\d:\d\d\.\d{3}Z(#[\w.-]{1,80})?)$/;

export const encodeCursor = (position: string) => Buffer.from(`p:${position}`).toString("base64url");

function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, "base64url").toString("utf8");
  const position = text.startsWith("p:") ? text.slice(2) : "";
  if (!POSITION.test(position)) throw new ValidationError("cursor is not valid", { field: "after" });
  return position;
}

/** The feed items of events happening now (ids and times given here), to write with a change or after it. */
export function items(ctx: Context, events: NewEvent[]): Record<string, unknown>[] {
  const at = ctx.now().toISOString();
  return events.map((event) => Store.toItem({ ...withoutUndefined(event), id: newId("evt", ctx.now()), at }));
}

let failures = 0;
/** Feed writes that failed since the process started (the changes they report were made and kept). */
export const publishFailures = () => failures;

/**
 * Writes events after the change they report was made. A failed write does not undo or fail the change, whose
 * own item keeps its events: the feed misses that event, and {@link publishFailures} counts it.
 */
export async function publish(ctx: Context, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  const gathering = gathered.getStore();
  if (gathering) return gathering.add(items(ctx, events));
  try {
    await Store.putItems(ctx, items(ctx, events));
  } catch {
    failures++;
  }
}

/** How long a gathered event waits for others before it is written; well under the feed's read lag (FEED_LAG_MS). */
export const GATHER_MS = 50;
/** Items one BatchWriteItem request takes. */
const BATCH_ITEMS = 25;

/** Events published within {@link gathering}, written together. */
class Gathered {
  private pending: Record<string, unknown>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writes: Promise<void>[] = [];

  constructor(private readonly ctx: Context) {}

  /** Keeps the items; writes what is pending once 25 are, or {@link GATHER_MS} after the first. */
  add(batch: Record<string, unknown>[]): Promise<void> {
    this.pending.push(...batch);
    if (this.pending.length >= BATCH_ITEMS) return this.flush();
    this.timer ??= setTimeout(() => void this.flush(), GATHER_MS);
    return Promise.resolve();
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const out = this.pending;
    this.pending = [];
    if (out.length === 0) return Promise.resolve();
    const write = Store.putBatch(this.ctx, out).catch(() => {
      failures += out.length;
    });
    this.writes.push(write);
    return write;
  }

  /** Writes what is left, and waits for every write started. */
  async close(): Promise<void> {
    await this.flush();
    await Promise.all(this.writes);
  }
}

const gathered = new AsyncSlot<Gathered>();

/**
 * Runs `work` with the events it publishes gathered and written with BatchWriteItem (25 a request, each at most
 * {@link GATHER_MS} after it was published), all of them written before this returns: an agent's batch of tasks
 * writes its tasks' events in a few requests instead of one PutItem each. Each event keeps the time and position it
 * was published at, and is written well within the feed's read lag, so a reader misses none.
 */
export async function gathering<T>(ctx: Context, work: () => Promise<T>): Promise<T> {
  const scope = new Gathered(ctx);
  try {
    return await gathered.run(scope, work);
  } finally {
    await scope.close();
  }
}

/** A page of the feed, oldest first, after `after` (or from `since`, by default an hour ago). */
export async function list(ctx: Context, query: ListEventsQuery): Promise<EventPage> {
  const after =
    query.after !== undefined
      ? decodeCursor(query.after)
      : (query.since ?? new Date(ctx.now().getTime() - 3_600_000).toISOString());
  const { items: found, position } = await Store.read(ctx, {
    after,
    limit: query.limit,
    agentId: query.agentId,
    kind: query.kind,
  });
  return { items: found.map(toPublic), nextCursor: encodeCursor(position) };
}

const PUBLIC_FIELDS = Object.keys(FeedEvent.shape).filter((field) => field !== "cursor");

function toPublic(item: Record<string, unknown>): FeedEvent {
  const event: Record<string, unknown> = { cursor: encodeCursor(String(item.SK)) };
  for (const field of PUBLIC_FIELDS) if (item[field] !== undefined) event[field] = item[field];
  return event as FeedEvent;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
