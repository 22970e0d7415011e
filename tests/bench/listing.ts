/**
 * Listing phase of `npm run bench` (`--listing-tasks 1000,100000`), and what a task costs the table.
 *
 * 1. Write units per task: `diag`-like echo tasks submitted over HTTP with an operator key and run by a worker on
 *    a fresh local runtime; every write the runtime sends to DynamoDB is metered (meter.ts), table and index units
 *    apart.
 * 2. Listing latency: `GET /v1/tasks` (first page; all, by agent, by status, by agent and status) on a fresh runtime
 *    with each stored count of tasks, written straight into its table with BatchWriteItem in the task store's item
 *    shape (not through the API, so 100,000 take seconds). p50/p99 of each, and the ratio of the p50s.
 * 3. Disk per stored task: the local table's LevelDB directory before and after the tasks, after the runtime
 *    stopped, per task, against the mean stored item size (DynamoDB's item size rules).
 */
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { newId, type Task, type TaskStatus } from "@nexus/core";
import * as Keys from "@nexus/core/keys";
import { type LocalNexus, startLocal } from "@nexus/local";
import { batchPut } from "../../packages/core/src/storage/items.js";
import { toItem } from "../../packages/core/src/storage/tasks.js";
import { diskBytes } from "./memory.js";
import { itemBytes, meterDynamo } from "./meter.js";
import { percentile, pool } from "./stats.js";

export interface ListingOptions {
  /** Stored task counts, each on a fresh runtime (default 1,000 and 100,000). */
  sizes: number[];
  /** Timed requests per listing and size (default 200). */
  samples: number;
  /** Tasks run through the full path for the write units (default 200). */
  unitTasks: number;
  progress(line: string): void;
}

export interface ListingResult {
  units: UnitsResult;
  sizes: Array<{
    tasks: number;
    writeSeconds: number;
    listings: Record<string, { p50Ms: number; p99Ms: number }>;
    diskBytesPerTask: number;
    itemBytes: number;
  }>;
  /** p50 at the largest size over p50 at the smallest, per listing. */
  ratios: Record<string, number>;
}

const AGENTS = ["alpha", "beta", "gamma", "delta"];
const LISTINGS: Record<string, string> = {
  all: "/v1/tasks",
  agent: "/v1/tasks?agentId=beta",
  status: "/v1/tasks?status=failed",
  "agent+status": "/v1/tasks?agentId=beta&status=failed",
};

export interface UnitsResult {
  tasks: number;
  /** Table write units per task, as dynalite reports them. */
  table: number;
  /** Index write units per task, by index (computed). */
  indexes: Record<string, number>;
  /** All write units per task, by item kind (the PK prefix), table and indexes. */
  byKind: Record<string, number>;
  total: number;
}

async function call(nexus: LocalNexus, token: string, path: string, body?: unknown) {
  const reply = await fetch(`${nexus.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await reply.json()) as Record<string, unknown>;
  if (reply.status >= 300) throw new Error(`${path} → ${reply.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/** Write units per task over the full path: submit over HTTP (operator key), a worker runs each to `succeeded`. */
async function runUnits(tasks: number): Promise<UnitsResult> {
  const nexus = await startLocal({ port: 0, logLevel: "SILENT", agents: [], sweepIntervalMs: 3_600_000 });
  try {
    const admin = nexus.adminKey;
    await call(nexus, admin, "/v1/agents", { name: "echo", actions: [{ name: "work" }] });
    await nexus.attachWorker("echo", { work: async (params) => ({ echoed: params }) });
    const { token } = await Keys.create(
      nexus.ctx,
      { name: "bench", role: "operator", rateLimitPerMinute: 100_000 },
      "bench",
    );
    const meter = await meterDynamo(nexus.ctx.ddb, nexus.endpoints.dynamodb, nexus.ctx.tableName);
    meter.start();
    const ids: string[] = [];
    await pool(tasks, 8, async (i) => {
      ids.push(String((await call(nexus, token, "/v1/tasks", { agentId: "echo", action: "work", params: { i } })).id));
    });
    for (const id of ids) {
      for (let task = await call(nexus, admin, `/v1/tasks/${id}`); task.status !== "succeeded"; ) {
        if (task.status === "failed" || task.status === "cancelled") throw new Error(`task ${id} ${task.status}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        task = await call(nexus, admin, `/v1/tasks/${id}`);
      }
    }
    const totals = meter.stop();
    meter.close();
    const per = (n: number) => n / tasks;
    const indexes = Object.fromEntries(Object.entries(totals.indexWrites).map(([k, v]) => [k, per(v)]));
    const total = totals.tableWrites + Object.values(totals.indexWrites).reduce((a, b) => a + b, 0);
    return {
      tasks,
      table: per(totals.tableWrites),
      indexes,
      byKind: Object.fromEntries(Object.entries(totals.writesByKind).map(([k, v]) => [k, per(v)])),
      total: per(total),
    };
  } finally {
    await nexus.stop();
  }
}

/** A stored task of agent `agentId` in `status`, created at `at` (the shape Tasks.submit and the worker leave). */
function storedTask(i: number, at: Date): Parameters<typeof toItem>[0] {
  const status: TaskStatus = i % 20 === 0 ? "queued" : i % 20 === 1 ? "failed" : "succeeded";
  const iso = at.toISOString();
  const done = new Date(at.getTime() + 150).toISOString();
  const events: Task["events"] = [{ at: iso, type: "queued" }];
  if (status !== "queued") events.push({ at: iso, type: "started", attempt: 1 });
  if (status === "succeeded") events.push({ at: done, type: "succeeded" });
  if (status === "failed") events.push({ at: done, type: "failed", message: "declined" });
  return {
    id: newId("tsk", at),
    agentId: AGENTS[i % AGENTS.length] as string,
    action: "work",
    params: { i },
    status,
    attempts: status === "queued" ? 0 : 1,
    maxAttempts: 3,
    error: status === "failed" ? { code: "declined", message: "declined", retriable: false } : null,
    idempotencyKey: null,
    planId: null,
    redriveOf: null,
    stepId: null,
    createdAt: iso,
    updatedAt: status === "queued" ? iso : done,
    startedAt: status === "queued" ? null : iso,
    finishedAt: status === "queued" ? null : done,
    ...(status === "succeeded" ? { result: { ok: i } } : {}),
    events,
    retry: { maxAttempts: 3, backoffSeconds: 1, maxBackoffSeconds: 60 },
    timeoutSeconds: 60,
    availableAt: iso,
  } as Parameters<typeof toItem>[0];
}

async function runSize(tasks: number, samples: number, progress: (line: string) => void) {
  const dataDir = await mkdtemp(join(tmpdir(), "nexus-listing-"));
  const dbDir = join(dataDir, "dynamodb");
  const nexus = await startLocal({
    port: 0,
    dataDir,
    logLevel: "SILENT",
    agents: [],
    sweepIntervalMs: 3_600_000,
    settings: { rateLimitPerMinute: 1e9 },
  });
  let stopped = false;
  try {
    const admin = nexus.adminKey;
    for (const name of AGENTS) await call(nexus, admin, "/v1/agents", { name, actions: [{ name: "work" }] });
    const diskBefore = diskBytes(dbDir);
    progress(`listing: writing ${tasks.toLocaleString("en-US")} tasks with BatchWriteItem`);
    const start = Date.now() - tasks * 1000;
    const records = Array.from({ length: tasks }, (_, i) => storedTask(i, new Date(start + i * 1000)));
    const began = performance.now();
    const chunk = 500;
    await pool(Math.ceil(tasks / chunk), 8, async (c) => {
      await batchPut(nexus.ctx, records.slice(c * chunk, (c + 1) * chunk).map(toItem));
    });
    const writeSeconds = (performance.now() - began) / 1000;
    const raw = new DynamoDBClient({
      region: "us-east-1",
      endpoint: nexus.endpoints.dynamodb,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const sampled = records.filter((_, i) => i % Math.max(1, Math.floor(tasks / 200)) === 0);
    let sizeSum = 0;
    for (const record of sampled) {
      const key = { PK: { S: `TASK#${record.id}` }, SK: { S: "TASK" } };
      sizeSum += itemBytes((await raw.send(new GetItemCommand({ TableName: nexus.ctx.tableName, Key: key }))).Item);
    }
    raw.destroy();
    const listings: Record<string, { p50Ms: number; p99Ms: number }> = {};
    for (const [name, path] of Object.entries(LISTINGS)) {
      for (let i = 0; i < 20; i++) await call(nexus, admin, path); // warm-up
      const times: number[] = [];
      for (let i = 0; i < samples; i++) {
        const t0 = performance.now();
        const page = await call(nexus, admin, path);
        times.push(performance.now() - t0);
        if ((page.items as unknown[]).length === 0) throw new Error(`${path} listed nothing`);
      }
      times.sort((a, b) => a - b);
      listings[name] = { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99) };
    }
    await nexus.stop();
    stopped = true;
    return {
      tasks,
      writeSeconds,
      listings,
      diskBytesPerTask: (diskBytes(dbDir) - diskBefore) / tasks,
      itemBytes: sizeSum / sampled.length,
    };
  } finally {
    if (!stopped) await nexus.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runListingBench(options: ListingOptions): Promise<ListingResult> {
  options.progress(`listing: write units of ${options.unitTasks} tasks through the full path`);
  const units = await runUnits(options.unitTasks);
  const sizes = [];
  for (const size of options.sizes) sizes.push(await runSize(size, options.samples, options.progress));
  const first = sizes[0];
  const last = sizes[sizes.length - 1];
  const ratios = Object.fromEntries(
    Object.keys(LISTINGS).map((name) => [
      name,
      (last?.listings[name]?.p50Ms ?? Number.NaN) / (first?.listings[name]?.p50Ms ?? Number.NaN),
    ]),
  );
  return { units, sizes, ratios };
}

const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

export function listingLines(r: ListingResult): string[] {
  const u = r.units;
  const indexes = Object.entries(u.indexes)
    .map(([name, n]) => `${name} ${fixed(n)}`)
    .join(" · ");
  const kinds = Object.entries(u.byKind)
    .sort(([, a], [, b]) => b - a)
    .map(([kind, n]) => `${kind} ${fixed(n)}`)
    .join(" · ");
  const names = Object.keys(LISTINGS);
  const head = ["tasks stored", ...names.flatMap((n) => [`${n} p50`, "p99"]), "disk B/task", "item B", "disk/item"];
  const rows = r.sizes.map((s) => [
    s.tasks.toLocaleString("en-US"),
    ...names.flatMap((n) => [fixed(s.listings[n]?.p50Ms ?? Number.NaN), fixed(s.listings[n]?.p99Ms ?? Number.NaN)]),
    fixed(s.diskBytesPerTask, 0),
    fixed(s.itemBytes, 0),
    `${fixed(s.diskBytesPerTask / s.itemBytes, 1)}x`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)) + 2);
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("");
  return [
    `write units per task (${u.tasks} echo tasks, submit over HTTP → succeeded): ${fixed(u.total)} (table ${fixed(u.table)}, reported by dynalite; indexes computed: ${indexes || "none"})`,
    `  by item kind, table + indexes: ${kinds}`,
    "listing GET /v1/tasks, first page (25), ms:",
    line(head),
    ...rows.map(line),
    `  p50 ratio ${r.sizes.at(-1)?.tasks.toLocaleString("en-US")} / ${r.sizes[0]?.tasks.toLocaleString("en-US")} tasks: ${names.map((n) => `${n} ${fixed(r.ratios[n] ?? Number.NaN)}x`).join(" · ")} (goal <= 1.30x)`,
    "  disk: the local table's LevelDB files after stop, minus before the tasks, per task; item: mean stored task item (DynamoDB size rules); goal disk/item <= 3x",
    ...r.sizes.map((s) => `  wrote ${s.tasks.toLocaleString("en-US")} tasks in ${fixed(s.writeSeconds, 1)} s`),
  ];
}
