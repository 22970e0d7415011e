import { spawn } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "@nexus/core";
import * as Keys from "@nexus/core/keys";
import { type LocalNexus, startLocal } from "@nexus/local";
import { runCli as run } from "@nexus/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as runAdmin } from "../../packages/local/src/admin-cli.js";
import { apiClient, type Json } from "../support/client.js";

/**
 * Backup and restore over the API (packages/core/src/backup.ts): a deployment with thousands of items (tasks across
 * agents, plans waiting at gates, schedules, keys, the audit trail, failures, a payload in object storage) is
 * exported with the CLI (killed with SIGKILL mid-export, then resumed), imported with the CLI into a fresh runtime
 * with its own data directory (interrupted, then resumed, and a page sent twice), and both tables are compared item by
 * item. Then the restored deployment works: its queues take the restored tasks, its keys authenticate, its schedules
 * fire, its plan gates can be approved, its payloads read back.
 */

const ROOT = new URL("../..", import.meta.url).pathname;
const TASKS_PER_AGENT = 1_000;
const dirs: string[] = [];
const tmp = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `nexus-backup-${name}-`));
  dirs.push(dir);
  return dir;
};

const options = {
  port: 0,
  logLevel: "SILENT" as const,
  settings: { rateLimitPerMinute: 1_000_000 },
  // Nothing changes the tables behind the test's back: no sweeps, probes, ingestion or schedule ticks of their own.
  sweepIntervalMs: 3_600_000,
  probeIntervalMs: 3_600_000,
  failureIngestIntervalMs: 3_600_000,
  scheduleIntervalMs: 0,
};

let source: LocalNexus;
let sourceDir = "";
let targetDir = "";
let target: LocalNexus;
let src: ReturnType<typeof apiClient>;
let dst: ReturnType<typeof apiClient>;
const file = join(tmp("files"), "backup.jsonl");
const made = {
  keyToken: "",
  keyId: "",
  bigTaskId: "",
  lateTaskId: "",
  hugeTaskId: "",
  gatedPlans: [] as string[],
  schedules: [] as string[],
};

function cliIO(fetcher?: typeof fetch) {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      env: { NEXUS_URL: "", NEXUS_API_KEY: "" },
      stdout: { write: (t: string) => (out.stdout += t) },
      stderr: { write: (t: string) => (out.stderr += t) },
      ...(fetcher ? { fetch: fetcher } : {}),
    },
  };
}

/** The 10 time characters of an id made at `ms` (ids.ts: Crockford base32 of the milliseconds). */
function timeChars(ms: number): string {
  const alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
  let out = "";
  for (let i = 0, value = ms; i < 10; i++, value = Math.floor(value / 32)) out = alphabet[value % 32] + out;
  return out;
}

async function inBatches<T>(values: T[], size: number, each: (value: T) => Promise<void>) {
  for (let i = 0; i < values.length; i += size) await Promise.all(values.slice(i, i + size).map(each));
}

async function scanAll(ctx: Context): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await ctx.ddb.send(new ScanCommand({ TableName: ctx.tableName, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

beforeAll(async () => {
  sourceDir = tmp("source");
  source = await startLocal({ ...options, dataDir: sourceDir });
  src = apiClient(source.url, source.adminKey);
  for (const name of ["alpha", "beta"]) {
    expect((await src.post("/v1/agents", { name, actions: [{ name: "work" }] })).status).toBe(201);
  }
  // 3,000 tasks: 1,000 on each custom agent (queued: no worker), 1,000 diag echoes (run and succeeded).
  const submits = [
    ...Array.from({ length: TASKS_PER_AGENT }, (_, i) => ({ agentId: "alpha", action: "work", params: { i } })),
    ...Array.from({ length: TASKS_PER_AGENT }, (_, i) => ({
      agentId: "beta",
      action: "work",
      params: { i },
      ...(i % 10 === 0 ? { idempotencyKey: `beta-${i}` } : {}),
    })),
    ...Array.from({ length: TASKS_PER_AGENT }, (_, i) => ({ agentId: "diag", action: "echo", params: { i } })),
  ];
  await inBatches(submits, 25, async (body) => {
    const reply = await src.post("/v1/tasks", body);
    expect(reply.status).toBe(202);
  });
  // A result kept in object storage (over 32 KB), made by an in-process worker of its own agent.
  expect((await src.post("/v1/agents", { name: "bulky", actions: [{ name: "make" }] })).status).toBe(201);
  await source.attachWorker("bulky", {
    make: async (params) => ({ text: "payload ".repeat((params as { times?: number }).times ?? 20_000) }),
  });
  const big = await src.post("/v1/tasks", { agentId: "bulky", action: "make" });
  made.bigTaskId = big.body.id;
  const bigTask = await src.waitForTask(made.bigTaskId, ["succeeded"], 60_000);
  expect(bigTask.resultRef.bytes).toBeGreaterThan(32 * 1024);
  // One over the 3 MB a backup carries: listed, not included.
  const huge = await src.post("/v1/tasks", { agentId: "bulky", action: "make", params: { times: 450_000 } });
  made.hugeTaskId = huge.body.id;
  expect((await src.waitForTask(made.hugeTaskId, ["succeeded"], 60_000)).resultRef.bytes).toBeGreaterThan(3 << 20);
  // Plans waiting at an approval gate, and one that ran to its end.
  for (let i = 0; i < 3; i++) {
    const plan = await src.post("/v1/plans", {
      name: `gated-${i}`,
      steps: [
        { id: "ask", kind: "approval", message: "go?" },
        { id: "say", agentId: "diag", action: "echo", params: { i }, dependsOn: ["ask"] },
      ],
    });
    expect(plan.status).toBe(201);
    made.gatedPlans.push(plan.body.id);
  }
  const done = await src.post("/v1/plans", { steps: [{ id: "one", agentId: "diag", action: "echo", params: {} }] });
  await src.waitForPlan(done.body.id, ["succeeded"], 60_000);
  for (const id of made.gatedPlans) {
    await src.waitUntil(`/v1/plans/${id}`, (p) => p.status === "waiting_approval", 30_000);
  }
  // Schedules: a cron task, a rate task, a disabled one.
  for (const body of [
    { name: "nightly", cron: "cron(0 3 * * ? *)", target: { type: "task", agentId: "diag", action: "echo" } },
    { name: "often", rate: "rate(5 minutes)", target: { type: "task", agentId: "beta", action: "work" } },
    { name: "off", rate: "rate(1 hour)", enabled: false, target: { type: "task", agentId: "diag", action: "echo" } },
  ]) {
    const reply = await src.post("/v1/schedules", body);
    expect(reply.status).toBe(201);
    made.schedules.push(reply.body.id);
  }
  // Keys, and a failure in the inbox.
  const key = await src.post("/v1/keys", { name: "ops-viewer", role: "viewer" });
  made.keyToken = key.body.key;
  made.keyId = key.body.id;
  await src.post("/v1/keys", { name: "beta-worker", role: "agent", agentId: "beta" });
  const failing = await src.post("/v1/tasks", {
    agentId: "diag",
    action: "fail",
    params: { times: 5, retriable: false },
  });
  await src.waitForTask(failing.body.id, ["failed"], 30_000);
  await source.ingestFailures();
  expect((await src.get("/v1/failures")).body.items.length).toBeGreaterThan(0);
  // Every diag echo has finished: nothing changes the source's tables while it is exported.
  await src.waitUntil("/v1/tasks?agentId=diag&status=queued&limit=1", (page) => page.items.length === 0, 120_000);
  await src.waitUntil("/v1/tasks?agentId=diag&status=running&limit=1", (page) => page.items.length === 0, 60_000);

  targetDir = tmp("target");
  target = await startLocal({ ...options, dataDir: targetDir });
  dst = apiClient(target.url, target.adminKey);
}, 600_000);

afterAll(async () => {
  await source?.stop();
  await target?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The CLI in a process of its own, killed with SIGKILL once it has written `pages` pages. */
async function exportKilledAfter(pages: number): Promise<void> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "packages/sdk/src/cli.ts"), "backup", "export", "--file", file],
    {
      cwd: ROOT,
      env: { ...process.env, NEXUS_URL: source.url, NEXUS_API_KEY: source.adminKey },
      stdio: "ignore",
    },
  );
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const state = existsSync(`${file}.cursor`) ? readFileSync(`${file}.cursor`, "utf8") : "";
    if (state && JSON.parse(state).pages >= pages) break;
    if (Date.now() > deadline) throw new Error("the export never got that far");
    await sleep(5);
  }
  child.kill("SIGKILL");
  await exited;
}

describe("export", () => {
  it("resumes after a kill -9 and writes valid JSON Lines: header, items, objects, end", async () => {
    await exportKilledAfter(2);
    const state = JSON.parse(readFileSync(`${file}.cursor`, "utf8"));
    expect(state.pages).toBeGreaterThanOrEqual(2);
    // As if the kill had landed in the middle of writing the next page.
    appendFileSync(file, '{"type":"item","entity":"task","item":{"PK":"TASK#half');
    // Made after the export began: not part of it.
    made.lateTaskId = (await src.post("/v1/tasks", { agentId: "beta", action: "work" })).body.id;

    const { io, out } = cliIO();
    const code = await run(["backup", "export", "--file", file, "--url", source.url, "--key", source.adminKey], io);
    expect(code, out.stderr).toBe(0);
    expect(out.stderr).toContain("resumed");
    expect(existsSync(`${file}.cursor`)).toBe(false);

    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    const records = lines.map((line) => JSON.parse(line));
    expect(records[0]).toMatchObject({ type: "header", format: "nexus-backup", version: 1 });
    const end = records.at(-1);
    expect(end.type).toBe("end");
    expect(records.filter((r) => r.type === "header" || r.type === "end")).toHaveLength(2);
    const items = records.filter((r) => r.type === "item");
    // Each item once, though pages were written, cut off and written again.
    const keys = items.map((r) => `${r.item.PK}|${r.item.SK}`);
    expect(new Set(keys).size).toBe(keys.length);
    const byEntity = (entity: string) => items.filter((r) => r.entity === entity).length;
    for (const [entity, n] of Object.entries(end.counts)) expect(byEntity(entity), entity).toBe(n);
    expect(byEntity("task")).toBeGreaterThanOrEqual(3 * TASKS_PER_AGENT);
    expect(byEntity("audit")).toBeGreaterThanOrEqual(3 * TASKS_PER_AGENT);
    for (const entity of ["agent", "plan", "schedule", "key", "failure", "idempotency"]) {
      expect(byEntity(entity), entity).toBeGreaterThan(0);
    }
    // The payload kept in object storage travels with its task.
    const objects = records.filter((r) => r.type === "object");
    expect(objects.length).toBeGreaterThan(0);
    expect(end.omittedObjects).toBe(1);
    expect(end.objects + end.omittedObjects).toBe(objects.length);
    // Keys by hash only: no token is in the file; nothing created after asOf is (the export's own audit records).
    const text = lines.join("\n");
    expect(text).not.toContain(made.keyToken);
    expect(text).not.toContain(source.adminKey);
    expect(text).not.toContain(made.keyToken.split("_")[2]);
    expect(items.every((r) => typeof r.item.createdAt !== "string" || r.item.createdAt <= end.asOf)).toBe(true);
    expect(text).not.toContain(made.lateTaskId);
    // And everything that existed at asOf is in it (what changes while the export runs is in it too, in some state).
    const exported = new Set(keys);
    const boundary = timeChars(Date.parse(end.asOf) + 1);
    const existedAtAsOf = (i: Record<string, unknown>) => {
      const idTime = /_([0-9a-z]{10})[0-9a-z]{16}$/.exec(String(i.PK))?.[1];
      return (
        !/^(RATE|BACKUP|EVENTS)#/.test(String(i.PK)) &&
        !(typeof i.createdAt === "string" && i.createdAt > end.asOf) &&
        !(idTime && idTime >= boundary)
      );
    };
    const existing = (await scanAll(source.ctx)).filter(existedAtAsOf);
    expect(existing.length).toBeGreaterThan(6_000);
    for (const item of existing) expect(exported.has(`${item.PK}|${item.SK}`), `${item.PK}|${item.SK}`).toBe(true);
  }, 300_000);

  it("exports a table straight, without the API (the admin CLI, as for a table restored from a point in time)", async () => {
    const straight = join(tmp("admin"), "table.jsonl");
    const code = await runAdmin(["backup", "export", "--file", straight], { NEXUS_DATA_DIR: sourceDir });
    expect(code).toBe(0);
    const records = readFileSync(straight, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    const viaApi = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    const keysOf = (rs: Json[]) => new Set(rs.filter((r) => r.type === "item").map((r) => `${r.item.PK}|${r.item.SK}`));
    const straightKeys = keysOf(records);
    for (const key of keysOf(viaApi)) expect(straightKeys.has(key), key).toBe(true);
    // Its asOf is later: it has the task made after the first export began, which that export left out.
    expect(records.at(-1).counts.task).toBe(viaApi.at(-1).counts.task + 1);
    expect(straightKeys.has(`TASK#${made.lateTaskId}|TASK`)).toBe(true);
    expect(records.filter((r) => r.type === "object")).toEqual(viaApi.filter((r) => r.type === "object"));
  });

  it("records each page in the audit trail, with the backup's id", async () => {
    const backupId = JSON.parse(readFileSync(file, "utf8").split("\n")[0] ?? "{}").backupId;
    const audit = (await src.get("/v1/audit?limit=100")).body.items as Json[];
    const pages = audit.filter((r) => r.route === "/v1/backup/export" && r.targetId === backupId);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.every((r) => r.method === "GET" && r.status === 200 && r.role === "admin")).toBe(true);
  });

  it("refuses a cursor it did not issue with a 400 naming it", async () => {
    const reply = await src.get("/v1/backup/export?cursor=not-a-cursor");
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body.error)).toContain("cursor");
  });
});

describe("import", () => {
  it("refuses a bad line with a 400 naming its line number, and writes nothing", async () => {
    const lines = readFileSync(file, "utf8").trimEnd().split("\n").slice(0, 5);
    const backupId = JSON.parse(lines[0] ?? "{}").backupId;
    lines[3] = '{"type":"item","entity":"task","item":{"PK":"AGENT#x","SK":"AGENT"}}';
    const reply = await dst.post("/v1/backup/import", { backupId, firstLine: 1, lines });
    expect(reply.status).toBe(400);
    expect(reply.body.error.message).toContain("line 4");
    expect(reply.body.error.details[0]).toMatchObject({ line: 4, path: "lines.3.entity" });
    lines[3] = "{not json";
    const broken = await dst.post("/v1/backup/import", { backupId, firstLine: 1, lines });
    expect(broken.body.error.details[0]).toMatchObject({ line: 4, path: "lines.3", message: "not JSON" });
    // Nothing was written, so the deployment is still empty (the import below is not refused).
    expect((await dst.get("/v1/tasks?limit=1")).body.items).toEqual([]);
  });

  it("refuses a deployment that is not empty with a 409", async () => {
    const lines = readFileSync(file, "utf8").split("\n").slice(0, 2);
    const backupId = JSON.parse(lines[0] ?? "{}").backupId;
    const reply = await src.post("/v1/backup/import", { backupId, firstLine: 1, lines });
    expect(reply.status).toBe(409);
    expect(reply.body.error.code).toBe("deployment_not_empty");
  });

  it("restores everything into a fresh deployment: interrupted and resumed, a page sent twice", async () => {
    let imports = 0;
    const failing: typeof fetch = async (input, init) => {
      if (String(input).includes("/v1/backup/import") && ++imports === 3) throw new TypeError("fetch failed");
      return fetch(input, init);
    };
    const first = cliIO(failing);
    const args = ["backup", "import", "--file", file, "--url", target.url, "--key", target.adminKey];
    expect(await run(args, first.io)).toBe(1);
    expect(existsSync(`${file}.import`)).toBe(true);

    const second = cliIO();
    expect(await run([...args, "--json"], second.io), second.out.stderr).toBe(0);
    const totals = JSON.parse(second.out.stdout);
    expect(totals.resumed).toBe(true);
    expect(existsSync(`${file}.import`)).toBe(false);
    expect(totals.resumedPlans).toBe(made.gatedPlans.length);

    // A page sent again writes nothing new.
    const lines = readFileSync(file, "utf8").split("\n").slice(1, 400);
    const again = await dst.post("/v1/backup/import", { backupId: totals.backupId, firstLine: 2, lines });
    expect(again.status).toBe(200);
    expect(again.body.restored).toEqual({});
    expect(again.body.existing).toBeGreaterThan(0);

    // Item by item: what the source held at asOf is what the target holds now.
    const records = readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    const asOf = records[0].asOf as string;
    const exported = new Set(records.filter((r) => r.type === "item").map((r) => `${r.item.PK}|${r.item.SK}`));
    // Re-derived by the restore: a custom agent's queue (this deployment's), and a resumed plan run's execution and
    // its steps' tokens (the step's history may gain the new run's events, the source's are kept before them).
    const resumed = new Set(made.gatedPlans.map((id) => `PLAN#${id}`));
    const comparable = (item: Record<string, unknown>, from: Record<string, unknown>) => {
      const { queue: _queue, executionArn: _arn, ...rest } = item;
      if (!resumed.has(String(from.PK)) || !String(from.SK).startsWith("STEP#")) return rest;
      const { startedAt: _started, events, ...step } = rest;
      expect((events as unknown[]).slice(0, (from.events as unknown[]).length)).toEqual(from.events);
      return Object.fromEntries(Object.entries(step).filter(([name]) => !name.endsWith("Token")));
    };
    const key = (i: Record<string, unknown>) => `${i.PK}|${i.SK}`;
    const sourceItems = new Map(
      (await scanAll(source.ctx)).filter((i) => exported.has(key(i))).map((i) => [key(i), i]),
    );
    const targetItems = new Map((await scanAll(target.ctx)).map((i) => [key(i), i]));
    let compared = 0;
    for (const [k, item] of sourceItems) {
      const restored = targetItems.get(k);
      expect(restored, k).toBeDefined();
      if (item.builtin === true) {
        expect((restored as Json).status, k).toBe(item.status);
        continue;
      }
      expect(comparable(restored as Record<string, unknown>, item), k).toEqual(comparable(item, item));
      compared++;
    }
    expect(compared).toBeGreaterThan(6_000);
    // What the target holds beyond the backup is its own: built-in agents, audit records of the import, the marker,
    // the activity feed of its own changes.
    const extra = [...targetItems.keys()].filter((k) => !sourceItems.has(k));
    for (const k of extra) expect(k, k).toMatch(/^(AGENT#|AUDIT#|BACKUP#|RATE#|EVENTS#)/);
    expect(asOf).toBeTruthy();
  }, 300_000);

  it("refuses another backup's import while this one holds the deployment", async () => {
    const backupId = `bkp_${"1".repeat(26)}`;
    const header = { type: "header", format: "nexus-backup", version: 1, backupId, asOf: new Date().toISOString() };
    const lines = [JSON.stringify({ ...header, table: "t" })];
    const reply = await dst.post("/v1/backup/import", { backupId, firstLine: 1, lines });
    expect(reply.status).toBe(409);
    expect(reply.body.error.code).toBe("import_in_progress");
  });

  it("leaves a deployment that works: keys, queues, payloads, schedules, plan gates", async () => {
    // A key made in the source authenticates here (its hash came along), with its role.
    const viewer = apiClient(target.url, made.keyToken);
    expect((await viewer.get(`/v1/keys/${made.keyId}`)).status).toBe(403);
    expect((await viewer.get("/v1/agents/alpha")).status).toBe(200);
    expect(Keys.Role.parse((await dst.get(`/v1/keys/${made.keyId}`)).body.role)).toBe("viewer");

    // The payload reads back whole.
    const big = await dst.get(`/v1/tasks/${made.bigTaskId}/result`);
    expect(big.status).toBe(200);
    expect(big.body.text).toBe("payload ".repeat(20_000));
    // The one left out of the backup (over 3 MB) reads back once its object is copied, as `aws s3 sync` would.
    const omitted = readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line.includes('"omitted":"too_large"'))
      .map((line) => JSON.parse(line));
    expect(omitted).toHaveLength(1);
    const key = omitted[0].key as string;
    mkdirSync(dirname(join(targetDir, "payloads", key)), { recursive: true });
    copyFileSync(join(sourceDir, "payloads", key), join(targetDir, "payloads", key));
    const huge = await dst.get(`/v1/tasks/${made.hugeTaskId}/result`);
    expect(huge.status).toBe(200);
    expect(huge.body.text).toBe("payload ".repeat(450_000));

    // A custom agent's restored queued tasks go back on its new queue (the sweeper) and are claimed from it.
    await target.sweep(0);
    const claimed = await dst.post("/v1/agents/beta/tasks/claim", { max: 10, waitSeconds: 5 });
    expect(claimed.status).toBe(200);
    expect(claimed.body.tasks.length).toBeGreaterThan(0);

    // A restored plan's gate is open again: approving it runs the plan to its end.
    const planId = made.gatedPlans[0] as string;
    const approved = await dst.post(`/v1/plans/${planId}/steps/ask/approve`, {});
    expect(approved.status).toBe(200);
    expect((await dst.waitForPlan(planId, ["succeeded", "failed"], 60_000)).status).toBe("succeeded");

    // A restored schedule fires.
    const often = made.schedules[1] as string;
    const schedule = (await dst.get(`/v1/schedules/${often}`)).body;
    await target.scheduler.tick(new Date(Date.parse(schedule.nextRunAt) + 1_000), { lateAfterMs: 3_600_000 });
    const fired = await dst.waitUntil(`/v1/schedules/${often}`, (s) => s.runs > schedule.runs, 10_000);
    expect(fired.lastRun.outcome).toBe("started");
  }, 120_000);
});
