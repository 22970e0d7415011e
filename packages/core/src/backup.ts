import { createHash } from "node:crypto";
import * as z from "zod";
import * as Agents from "./agents.js";
import type { Context } from "./context.js";
import { ConflictError, NexusError, ValidationError } from "./errors.js";
import * as Failures from "./failures.js";
import { newId } from "./ids.js";
import * as Keys from "./keys.js";
import type { Logger } from "./log.js";
import { checkKey } from "./objects.js";
import * as Plans from "./plans/index.js";
import { pure } from "./pure.js";
import * as Queues from "./queues.js";
import * as Schedules from "./schedules/index.js";
import { ListTasksQuery } from "./schemas.js";
import * as Store from "./storage/backup.js";
import * as Tasks from "./tasks.js";

/**
 * Backups as JSON Lines: every item of the table as stored (agents, tasks, plans and their steps, schedules and their
 * runs, API keys with their hashes only, the audit trail, failures, idempotency keys, daily-cap counters) and the
 * payload objects tasks keep in object storage, exported page by page through the API and imported into another
 * deployment. One line per record:
 *
 * - `{"type":"header", format, version, backupId, asOf, table}`: the first line;
 * - `{"type":"item", entity, item}`: one stored item, attributes as DynamoDB holds them (index keys included);
 * - `{"type":"object", key, bytes, sha256, contentType, data}`: a payload an item refers to, base64; one over
 *   {@link INLINE_OBJECT_BYTES} (or missing) is listed with `omitted` and no data;
 * - `{"type":"end", backupId, asOf, completedAt, counts, objects, omittedObjects}`: the last line; a file without it
 *   is incomplete.
 *
 * **What "consistent" means here.** DynamoDB has no snapshot read: a Scan reads each item as it is when it gets to
 * it. The export fixes `asOf` when it starts and leaves out every item created after it (by its `createdAt`, or the
 * time in its time-sortable id), so the set of things exported is the set that existed at `asOf`; each item is read
 * strongly consistent, at its state at some moment between `asOf` and the end of the export. Items that change while
 * the export runs (a task finishing, a plan moving on) may be seen before or after the change; the restore repairs
 * what that can leave behind (tasks are put back on their queues by the sweeper, open plan runs resume). For an exact
 * point in time, restore the table with PITR instead (README, Backups and restore).
 */

export const FORMAT = "nexus-backup";
export const FORMAT_VERSION = 1;
/** Items read per export page (one Scan). */
export const PAGE_ITEMS = 500;
/** An export page stops growing at this many bytes (under Lambda's 6 MB response limit). */
export const PAGE_BYTES = 4 * 1024 * 1024;
/** Payload objects up to this size are in the backup (base64); larger ones are listed (see the README). */
export const INLINE_OBJECT_BYTES = 3 * 1024 * 1024;
/** Most lines one import request may carry. */
export const MAX_IMPORT_LINES = 1000;

/**
 * Not exported: rate-limit counters, backups' own records, the activity feed (events.ts: a day's worth, TTL'd) and
 * where the last sweep stopped (its cursors belong to this table).
 */
const NOT_EXPORTED = new Set(["rate", "backup", "events", "sweep"]);

export const BackupId = /* @__PURE__ */ pure(() => z.string().regex(/^bkp_[0-9a-z]{26}$/, "a backup id (bkp_…)"));
const Iso = /* @__PURE__ */ pure(() => z.iso.datetime({ offset: true }));
const Entity = /* @__PURE__ */ pure(() => z.string().regex(/^[a-z_]{1,40}$/));
const Sha256 = /* @__PURE__ */ pure(() => z.string().regex(/^[0-9a-f]{64}$/));

export const HeaderLine = /* @__PURE__ */ pure(() =>
  z.strictObject({
    type: z.literal("header"),
    format: z.literal(FORMAT),
    version: z.literal(FORMAT_VERSION),
    backupId: BackupId,
    asOf: Iso,
    table: z.string().max(255),
  }),
);
export const ItemLine = /* @__PURE__ */ pure(() =>
  z.strictObject({
    type: z.literal("item"),
    entity: Entity,
    item: z.record(z.string(), z.unknown()),
  }),
);
export const ObjectLine = /* @__PURE__ */ pure(() =>
  z.strictObject({
    type: z.literal("object"),
    key: z.string().min(1).max(1024),
    bytes: z.number().int().min(0),
    sha256: Sha256,
    contentType: z.string().min(1).max(255),
    data: z.base64().optional(),
    omitted: z.enum(["too_large", "missing"]).optional(),
  }),
);
export const EndLine = /* @__PURE__ */ pure(() =>
  z.strictObject({
    type: z.literal("end"),
    backupId: BackupId,
    asOf: Iso,
    completedAt: Iso,
    counts: z.record(Entity, z.number().int().min(0)),
    objects: z.number().int().min(0),
    omittedObjects: z.number().int().min(0),
  }),
);
export const BackupLine = /* @__PURE__ */ pure(() =>
  z.discriminatedUnion("type", [HeaderLine, ItemLine, ObjectLine, EndLine]),
);
export type BackupLine = z.output<typeof BackupLine>;

/** The entity of a stored item: its partition key's prefix (`TASK#…` → `task`). */
export const entityOf = (pk: string) => (pk.split("#")[0] ?? "").toLowerCase();

// ── Export ───────────────────────────────────────────────────────────────────────────────────────────

const ExportState = /* @__PURE__ */ pure(() =>
  z.strictObject({
    v: z.literal(1),
    b: BackupId,
    a: Iso,
    k: z.strictObject({ PK: z.string().min(1).max(2048), SK: z.string().min(1).max(1024) }).optional(),
    c: z.record(Entity, z.number().int().min(0)),
    o: z.number().int().min(0),
    m: z.number().int().min(0),
  }),
);
type ExportState = z.output<typeof ExportState>;

const encodeState = (state: ExportState) => Buffer.from(JSON.stringify(state)).toString("base64url");

function decodeState(cursor: string): ExportState {
  try {
    return ExportState.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch {
    throw new ValidationError("cursor is not an export cursor", { field: "cursor" });
  }
}

export interface ExportPage {
  backupId: string;
  asOf: string;
  /** JSON Lines of this page (the header first on the first page, the end record last on the last). */
  lines: string[];
  /** Where the next page starts; null after the last. */
  nextCursor: string | null;
  /** Items in this page, by entity. */
  counts: Record<string, number>;
}

const ULID_TIME = /_([0-9a-hjkmnp-tv-z]{10})[0-9a-hjkmnp-tv-z]{16}$/;
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/** The creation time of a time-sortable id (ids.ts), in ms; undefined for other ids. */
function timeOfId(id: string): number | undefined {
  const digits = ULID_TIME.exec(id)?.[1];
  if (!digits) return undefined;
  return [...digits].reduce((ms, c) => ms * 32 + ALPHABET.indexOf(c), 0);
}

/** Whether an item came into being after `asOf`: by its `createdAt`, or the time in the id its key holds. */
function createdAfter(item: Record<string, unknown>, asOf: string): boolean {
  if (typeof item.createdAt === "string" && item.createdAt > asOf) return true;
  const time = timeOfId(String(item.PK).slice(String(item.PK).indexOf("#") + 1));
  return time !== undefined && time > Date.parse(asOf);
}

interface Ref {
  key: string;
  bytes: number;
  sha256: string;
  contentType: string;
}

const isRef = (v: unknown): v is Ref => {
  const r = v as Partial<Ref> | null;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.key === "string" &&
    typeof r.bytes === "number" &&
    typeof r.sha256 === "string" &&
    typeof r.contentType === "string"
  );
};

/** Every payload reference an item holds (a task's `paramsRef`/`resultRef`, a plan step's result…), at any depth. */
function refsIn(value: unknown, found: Ref[] = []): Ref[] {
  if (isRef(value)) found.push(value);
  else if (Array.isArray(value)) for (const v of value) refsIn(v, found);
  else if (typeof value === "object" && value !== null) for (const v of Object.values(value)) refsIn(v, found);
  return found;
}

/** The JSON text of a record; a value JSON cannot hold exactly (a set, bytes) would be lost, so it is an error. */
function lineOf(record: object): string {
  return JSON.stringify(record, (_key, value) => {
    if (value instanceof Set || value instanceof Uint8Array || typeof value === "bigint") {
      throw new NexusError("backup_unsupported_value", 500, "an item holds a value JSON cannot carry");
    }
    return value;
  });
}

async function objectLine(ctx: Context, ref: Ref): Promise<{ line: string; omitted: boolean }> {
  const described = {
    type: "object",
    key: ref.key,
    bytes: ref.bytes,
    sha256: ref.sha256,
    contentType: ref.contentType,
  };
  if (ref.bytes > INLINE_OBJECT_BYTES) return { line: lineOf({ ...described, omitted: "too_large" }), omitted: true };
  const body = await ctx.payloads?.get(ref.key);
  if (!body) return { line: lineOf({ ...described, omitted: "missing" }), omitted: true };
  return { line: lineOf({ ...described, data: Buffer.from(body).toString("base64") }), omitted: false };
}

/**
 * One page of an export. Without a cursor a new export starts: `asOf` is now, the header is the first line. Each
 * page reads the next items of the table (one Scan) with the objects they refer to, up to {@link PAGE_BYTES}; its
 * cursor carries the backup's id, `asOf`, where to go on, and the counts so far, so any page can be asked for again
 * and an interrupted export goes on from its last page.
 */
export async function exportPage(ctx: Context, cursor?: string): Promise<ExportPage> {
  const now = ctx.now();
  const state: ExportState = cursor
    ? decodeState(cursor)
    : { v: 1, b: newId("bkp", now), a: now.toISOString(), c: {}, o: 0, m: 0 };
  const lines: string[] = [];
  if (!cursor) {
    const header = { type: "header", format: FORMAT, version: FORMAT_VERSION, backupId: state.b, asOf: state.a };
    lines.push(lineOf({ ...header, table: ctx.tableName }));
  }
  let bytes = lines.reduce((n, l) => n + l.length + 1, 0);
  let items = 0;
  const counts: Record<string, number> = {};
  const scanned = await Store.scanPage(ctx, state.k, PAGE_ITEMS);
  let last = state.k;
  let cut = false;
  for (const item of scanned.items) {
    const key = { PK: String(item.PK), SK: String(item.SK) };
    const entity = entityOf(key.PK);
    if (!NOT_EXPORTED.has(entity) && !createdAfter(item, state.a)) {
      const record = [lineOf({ type: "item", entity, item })];
      let omitted = 0;
      const refs = refsIn(item);
      for (const ref of refs) {
        const object = await objectLine(ctx, ref);
        record.push(object.line);
        if (object.omitted) omitted++;
      }
      const size = record.reduce((n, l) => n + l.length + 1, 0);
      // A page holds at least one item; then it ends before the item that would take it over its size.
      if (items > 0 && bytes + size > PAGE_BYTES) {
        cut = true;
        break;
      }
      lines.push(...record);
      bytes += size;
      items++;
      counts[entity] = (counts[entity] ?? 0) + 1;
      state.c[entity] = (state.c[entity] ?? 0) + 1;
      state.o += refs.length - omitted;
      state.m += omitted;
    }
    last = key;
  }
  const next = cut ? last : scanned.next;
  if (!next) {
    const end = { type: "end", backupId: state.b, asOf: state.a, completedAt: ctx.now().toISOString() };
    lines.push(lineOf({ ...end, counts: state.c, objects: state.o, omittedObjects: state.m }));
  }
  const { k: _k, ...rest } = state;
  return {
    backupId: state.b,
    asOf: state.a,
    lines,
    nextCursor: next ? encodeState({ ...rest, k: next }) : null,
    counts,
  };
}

// ── Import ───────────────────────────────────────────────────────────────────────────────────────────

export const ImportInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      backupId: BackupId.describe("The backup's id, from its header line"),
      firstLine: z.number().int().min(1).describe("The line number (1-based) of the first of `lines` in the file"),
      lines: z
        .array(
          z
            .string()
            .min(1)
            .max(6 * 1024 * 1024),
        )
        .min(1)
        .max(MAX_IMPORT_LINES)
        .describe("Consecutive lines of the backup file, as written"),
      force: z
        .boolean()
        .default(false)
        .describe("Import into a deployment that holds data of its own, or take over from another import"),
    })
    .meta({ id: "ImportBackupInput" }),
);
export type ImportInput = z.output<typeof ImportInput>;

export const ImportResult = /* @__PURE__ */ pure(() =>
  z
    .object({
      backupId: z.string(),
      lines: z.number().int().describe("Lines taken in this request"),
      restored: z.record(z.string(), z.number().int()).describe("Items written, by entity"),
      existing: z.number().int().describe("Items left alone: something was stored under their key (a repeated page)"),
      objects: z.number().int().describe("Payload objects written"),
      omittedObjects: z.number().int().describe("Objects the backup lists without their data (too large, or missing)"),
      schedules: z.number().int().describe("Schedules whose trigger was put back (EventBridge Scheduler in AWS)"),
      completed: z.boolean().describe("The end record was among these lines: the import is complete"),
      resumedPlans: z.number().int().describe("Open plan runs given a new execution when the import completed"),
    })
    .meta({ id: "ImportBackupResult" }),
);
export type ImportResult = z.output<typeof ImportResult>;

interface Issue {
  /** The line in the backup file. */
  line: number;
  /** The field of the request: `lines.<i>.<field of the record>`. */
  path: string;
  message: string;
}

const MAX_ISSUES = 20;

/** Every line parsed and checked before anything is written: a bad line is named by its number in the file. */
function parseLines(input: ImportInput): BackupLine[] {
  const issues: Issue[] = [];
  const parsed: BackupLine[] = [];
  input.lines.forEach((text, i) => {
    if (issues.length >= MAX_ISSUES) return;
    const line = input.firstLine + i;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      issues.push({ line, path: `lines.${i}`, message: "not JSON" });
      return;
    }
    const result = BackupLine.safeParse(json);
    if (!result.success) {
      for (const issue of result.error.issues.slice(0, 3)) {
        issues.push({ line, path: ["lines", i, ...issue.path].map(String).join("."), message: issue.message });
      }
      return;
    }
    const problem = checkLine(result.data, line, input.backupId);
    if (problem) issues.push({ line, path: `lines.${i}.${problem.path}`, message: problem.message });
    else parsed.push(result.data);
  });
  const first = issues[0];
  if (first) {
    const field = first.path.split(".").slice(2).join(".") || "(line)";
    throw new ValidationError(`backup line ${first.line} is not valid: ${field}: ${first.message}`, issues);
  }
  return parsed;
}

/** What the schema cannot see: keys and entities that agree, ids of this backup, objects that match their hash. */
function checkLine(record: BackupLine, line: number, backupId: string): { path: string; message: string } | undefined {
  switch (record.type) {
    case "header":
      if (line !== 1) return { path: "type", message: "a header is only the first line" };
      if (record.backupId !== backupId) return { path: "backupId", message: "is another backup's" };
      return undefined;
    case "end":
      if (record.backupId !== backupId) return { path: "backupId", message: "is another backup's" };
      return undefined;
    case "item": {
      const { PK, SK } = record.item;
      if (typeof PK !== "string" || PK === "") return { path: "item.PK", message: "must be a non-empty string" };
      if (typeof SK !== "string" || SK === "") return { path: "item.SK", message: "must be a non-empty string" };
      if (entityOf(PK) !== record.entity) return { path: "entity", message: `does not match item.PK '${PK}'` };
      if (NOT_EXPORTED.has(record.entity)) return { path: "entity", message: `'${record.entity}' is not restored` };
      if (Buffer.byteLength(JSON.stringify(record.item)) > 400 * 1024) {
        return { path: "item", message: "is larger than a DynamoDB item may be (400 KB)" };
      }
      return undefined;
    }
    case "object": {
      try {
        checkKey(record.key);
      } catch {
        return { path: "key", message: "is not a valid object key" };
      }
      if (record.data === undefined) {
        return record.omitted ? undefined : { path: "data", message: "is required unless the object is omitted" };
      }
      const body = Buffer.from(record.data, "base64");
      if (body.byteLength !== record.bytes) return { path: "data", message: `holds ${body.byteLength} bytes` };
      if (createHash("sha256").update(body).digest("hex") !== record.sha256) {
        return { path: "data", message: "does not match sha256" };
      }
      return undefined;
    }
  }
}

/** What this deployment holds of its own (built-in agents and the audit trail do not count); empty: nothing. */
export async function ownData(ctx: Context): Promise<string[]> {
  const one = { limit: 1 };
  const [tasks, plans, schedules, keys, failures, agents] = await Promise.all([
    Tasks.list(ctx, ListTasksQuery.parse(one)),
    Plans.list(ctx, Plans.ListPlansQuery.parse(one)),
    Schedules.list(ctx, Schedules.ListSchedulesQuery.parse(one)),
    Keys.list(ctx, one),
    Failures.list(ctx, Failures.ListFailuresQuery.parse(one)),
    Agents.all(ctx),
  ]);
  return [
    ...(tasks.items.length ? ["tasks"] : []),
    ...(plans.items.length ? ["plans"] : []),
    ...(schedules.items.length ? ["schedules"] : []),
    ...(keys.items.length ? ["keys"] : []),
    ...(failures.items.length ? ["failures"] : []),
    ...(agents.some((a) => !a.builtin) ? ["agents"] : []),
  ];
}

/**
 * Claims the deployment for this backup's import: the first request finds it empty (or is forced) and marks it;
 * later requests of the same import (resumed, repeated) go on; another backup's import is refused unless forced.
 */
async function claim(ctx: Context, input: ImportInput): Promise<Store.ImportMarker> {
  const marker = await Store.importMarker(ctx);
  if (marker?.backupId === input.backupId) return marker;
  if (marker && !input.force) {
    throw new ConflictError(
      "import_in_progress",
      `this deployment holds the import of backup '${marker.backupId}'; pass force to import another`,
      { backupId: marker.backupId, startedAt: marker.startedAt, completedAt: marker.completedAt ?? null },
    );
  }
  const own = await ownData(ctx);
  if (own.length > 0 && !input.force) {
    throw new ConflictError(
      "deployment_not_empty",
      `this deployment is not empty (it holds ${own.join(", ")}); import into an empty one, or pass force`,
      { holds: own },
    );
  }
  const next: Store.ImportMarker = {
    backupId: input.backupId,
    startedAt: ctx.now().toISOString(),
    intoEmpty: !own.length,
  };
  if (marker) await Store.putImportMarker(ctx, next);
  else if (!(await Store.claimImport(ctx, next))) return claim(ctx, input);
  return next;
}

/** Writes `count` tasks at a time, in order of `run`'s calls. */
async function inParallel<T>(values: T[], count: number, run: (value: T) => Promise<void>) {
  let next = 0;
  const lane = async () => {
    while (next < values.length) await run(values[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(count, values.length) }, lane));
}

/**
 * Restores one item. Written only where nothing is stored under its key, so a repeated or resumed import adds
 * nothing twice and never overwrites what the deployment changed since. A custom agent gets its queues in this
 * deployment (created as registration creates them); a built-in agent keeps this deployment's item and takes the
 * backup's status; a schedule gets its trigger back (EventBridge Scheduler in AWS).
 */
async function restore(ctx: Context, entity: string, item: Record<string, unknown>): Promise<"restored" | "existing"> {
  if (entity === "agent" && item.SK === "AGENT") {
    const id = String(item.id);
    if (item.builtin === true) {
      const current = await Agents.find(ctx, id);
      const status = item.status === "inactive" ? "inactive" : "active";
      if (current?.builtin && current.status !== status) await Agents.setStatus(ctx, id, status);
      return "existing";
    }
    const queue = await Queues.createAgentQueues(ctx, id);
    return (await Store.restoreItem(ctx, { ...item, queue })) ? "restored" : "existing";
  }
  const written = await Store.restoreItem(ctx, item);
  return written ? "restored" : "existing";
}

/**
 * Takes consecutive lines of a backup file into this deployment. Every line is checked first (a bad one is a 400
 * naming its line number, and nothing of the request is written); then items are written where nothing is stored
 * under their key, objects put back in object storage (checked against their SHA-256). The end record completes the
 * import: open plan runs get a new execution (when the deployment was empty), as a restarted local runtime does.
 * Queued and running tasks are put back on their queues by the sweeper (their messages are not in a backup).
 */
export async function importPage(ctx: Context, input: ImportInput, options: { logger: Logger }): Promise<ImportResult> {
  const records = parseLines(input);
  const marker = await claim(ctx, input);
  const result: ImportResult = {
    backupId: input.backupId,
    lines: input.lines.length,
    restored: {},
    existing: 0,
    objects: 0,
    omittedObjects: 0,
    schedules: 0,
    completed: false,
    resumedPlans: 0,
  };
  const objects = records.filter((r) => r.type === "object");
  if (objects.some((o) => o.data !== undefined) && !ctx.payloads) {
    throw new NexusError("payloads_unconfigured", 500, "no payload store is configured (NEXUS_PAYLOADS)");
  }
  // Objects first: an item never points at an object that is not there yet.
  await inParallel(objects, 8, async (object) => {
    if (object.data === undefined) {
      result.omittedObjects++;
      return;
    }
    await ctx.payloads?.put(object.key, Buffer.from(object.data, "base64"), object.contentType);
    result.objects++;
  });
  const items = records.filter((r) => r.type === "item");
  await inParallel(items, 8, async ({ entity, item }) => {
    const outcome = await restore(ctx, entity, item);
    if (outcome === "restored") result.restored[entity] = (result.restored[entity] ?? 0) + 1;
    else result.existing++;
  });
  // A schedule's trigger is put back whether its item was written now or by an earlier, interrupted request.
  for (const { item } of items.filter((r) => r.entity === "schedule" && r.item.SK === "SCHEDULE")) {
    await Schedules.restoreTrigger(ctx, String(item.id));
    result.schedules++;
  }
  if (records.some((r) => r.type === "end")) {
    result.completed = true;
    if (marker.intoEmpty && !marker.completedAt) {
      const recovered = await Plans.recover(ctx, {
        restart: true,
        changedBefore: marker.startedAt,
        graceMs: 0,
        logger: options.logger,
      });
      result.resumedPlans = recovered.resumed;
    }
    await Store.putImportMarker(ctx, { ...marker, completedAt: ctx.now().toISOString() });
  }
  return result;
}
