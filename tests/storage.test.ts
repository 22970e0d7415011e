import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { createClients, newId, type TaskEvent, type TaskStatus } from "@nexus/core";
import { startDynamo, startLocal } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getItem, sendPut } from "../packages/core/src/storage/items.js";
import { indexedStatus, keys, SHARDS, shardOf } from "../packages/core/src/storage/table.js";
import * as Store from "../packages/core/src/storage/tasks.js";
import { allOf } from "../packages/core/src/storage/update.js";
import { startTestContext } from "./support/context.js";

/**
 * The task store's listings over write-sharded, keys-only indexes, and its bounded event trail, against the
 * DynamoDB emulator.
 */
let env: Awaited<ReturnType<typeof startTestContext>>;
beforeAll(async () => {
  env = await startTestContext();
});
afterAll(async () => {
  await env?.stop();
});

const AGENTS = ["storage-a", "storage-b", "storage-c"];
const STATUSES: TaskStatus[] = ["queued", "running", "succeeded"];

function record(i: number, at: Date): Store.TaskRecord {
  const iso = at.toISOString();
  return {
    id: newId("tsk", at),
    agentId: AGENTS[i % AGENTS.length] as string,
    action: "work",
    params: { i },
    status: STATUSES[i % STATUSES.length] as TaskStatus,
    attempts: 0,
    maxAttempts: 3,
    error: null,
    idempotencyKey: null,
    planId: null,
    redriveOf: null,
    stepId: null,
    createdAt: iso,
    updatedAt: iso,
    startedAt: null,
    finishedAt: null,
    events: [{ at: iso, type: "queued" }],
    retry: { maxAttempts: 3, backoffSeconds: 1, maxBackoffSeconds: 60 },
    timeoutSeconds: 60,
    availableAt: iso,
  };
}

/** Every page of a listing, `limit` at a time: the ids in order, and how many pages it took. */
async function pageThrough(query: { agentId?: string; status?: TaskStatus }, limit: number) {
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await Store.list(env.ctx, { ...query, limit, ...(cursor ? { cursor } : {}) });
    ids.push(...page.items.map((task) => task.id));
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor);
  return { ids, pages };
}

describe("task listings", () => {
  const written: Store.TaskRecord[] = [];

  beforeAll(async () => {
    const start = Date.now() - 1_000_000;
    for (let i = 0; i < 120; i++) written.push(record(i, new Date(start + i * 1000)));
    for (const task of written) expect(await Store.create(env.ctx, task)).toBe(true);
  });

  it("spread a task's index entries over shards, and leave GSI1–GSI4 to other entities", async () => {
    const shards = new Set(written.map((task) => shardOf(task.id, SHARDS.tasks)));
    expect(shards.size).toBeGreaterThan(SHARDS.tasks / 2);
    const task = written[0] as Store.TaskRecord;
    const item = (await getItem(env.ctx, keys.task(task.id))) ?? {};
    expect(item).toMatchObject({
      TASKS_ALL_PK: `TASKS#${shardOf(task.id, SHARDS.tasks)}`,
      TASKS_STATUS_PK: `TASKS#S#${indexedStatus(task.status)}#${shardOf(task.id, SHARDS.tasks)}`,
      TASKS_SK: task.id,
    });
    for (const gsi of ["GSI1PK", "GSI2PK", "GSI3PK", "GSI4PK"]) expect(item).not.toHaveProperty(gsi);
    expect(await Store.find(env.ctx, task.id)).not.toHaveProperty("TASKS_SK");
  });

  it.each<[string, { agentId?: string; status?: TaskStatus }]>([
    ["all", {}],
    ["an agent's", { agentId: "storage-b" }],
    ["a status's", { status: "running" as const }],
    ["an agent's in a status", { agentId: "storage-a", status: "queued" as const }],
  ])("page %s tasks newest first across every shard, each once", async (_, query) => {
    const expected = written
      .filter(
        (task) => (query.agentId ?? task.agentId) === task.agentId && (query.status ?? task.status) === task.status,
      )
      .map((task) => task.id)
      .sort()
      .reverse();
    const { ids, pages } = await pageThrough(query, 7);
    expect(ids).toEqual(expected);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(expected.length / 7));
  });

  it("index a running task as queued, and still fill a page of either status", async () => {
    const running = written.find((task) => task.status === "running") as Store.TaskRecord;
    const item = (await getItem(env.ctx, keys.task(running.id))) ?? {};
    expect(item.TASKS_STATUS_PK).toBe(`TASKS#S#queued#${shardOf(running.id, SHARDS.tasks)}`);
    expect(item.TASKS_AGENT_STATUS_PK).toBe(`TASKS#A#${running.agentId}#S#queued#${shardOf(running.id, SHARDS.tasks)}`);
    // queued and running alternate in the shared partition: each page still holds `limit` of the status asked for
    for (const status of ["queued", "running"] as const) {
      const page = await Store.list(env.ctx, { status, limit: 7 });
      expect(page.items).toHaveLength(7);
      expect(new Set(page.items.map((task) => task.status))).toEqual(new Set([status]));
    }
  });

  it("leave out a task whose index entry still shows a status it has left", async () => {
    const task = record(0, new Date(Date.now() - 500_000));
    const moved = { ...task, status: "succeeded" as const };
    // The status index still holds the task under `queued` (as an eventually consistent index may, for a while).
    const stale = keys.taskIndexes(task.id, task.agentId, "queued");
    await sendPut(env.ctx, { ...Store.toItem(moved), TASKS_STATUS_PK: stale.TASKS_STATUS_PK });
    const { ids } = await pageThrough({ status: "queued" }, 50);
    expect(ids).not.toContain(task.id);
    expect((await Store.list(env.ctx, { limit: 200 })).items.map((t) => t.id)).toContain(task.id);
  });
});

describe("a task's event trail", () => {
  /** The change of `task` from `from` to `to`, with one event. */
  const move = (task: Store.TaskRecord, from: TaskStatus, to: TaskStatus, type: TaskEvent["type"]) => ({
    task,
    to,
    set: {},
    events: [{ at: new Date().toISOString(), type }],
    condition: "#st = :from",
    names: { "#st": "status" },
    values: { ":from": from },
  });

  it("stays bounded however often the task is requeued, and keeps its first and final events", async () => {
    const task = record(0, new Date());
    task.agentId = "storage-events";
    await Store.create(env.ctx, task);
    const cycles = Store.MAX_EVENTS; // two events a cycle: twice the cap
    for (let i = 0; i < cycles; i++) {
      expect(await Store.transitioned(env.ctx, move(task, "queued", "running", "started")), `cycle ${i}`).toBe(true);
      expect(await Store.transitioned(env.ctx, move(task, "running", "queued", "requeued")), `cycle ${i}`).toBe(true);
    }
    const done = await Store.transition(env.ctx, move(task, "queued", "succeeded", "succeeded"));
    expect(done?.status).toBe("succeeded");
    const stored = (await Store.find(env.ctx, task.id)) as Store.TaskRecord & { eventsDropped?: number };
    expect(stored.events.length).toBe(Store.MAX_EVENTS + 1);
    expect(stored.events[0]?.type).toBe("queued");
    expect(stored.events.at(-1)?.type).toBe("succeeded");
    expect(stored.eventsDropped).toBe(1 + 2 * cycles - Store.MAX_EVENTS);
    // A condition that does not hold still fails when the trail is full.
    expect(await Store.transitioned(env.ctx, move(task, "running", "queued", "requeued"))).toBe(false);
  });

  it("stays bounded when a transition's condition is an OR (kept whole, not split by the cap's AND)", async () => {
    const task = record(0, new Date());
    task.agentId = "storage-events-or";
    await Store.create(env.ctx, task);
    for (let i = 0; i < Store.MAX_EVENTS; i++) {
      expect(await Store.transitioned(env.ctx, move(task, "queued", "running", "started")), `cycle ${i}`).toBe(true);
      expect(await Store.transitioned(env.ctx, move(task, "running", "queued", "requeued")), `cycle ${i}`).toBe(true);
    }
    const either = {
      ...move(task, "queued", "running", "started"),
      condition: "#st = :from OR #st = :other",
      values: { ":from": "queued", ":other": "running" },
    };
    expect(await Store.transitioned(env.ctx, either)).toBe(true);
    const stored = (await Store.find(env.ctx, task.id)) as Store.TaskRecord & { eventsDropped?: number };
    expect(stored.status).toBe("running");
    expect(stored.events.length).toBe(Store.MAX_EVENTS);
    expect(stored.eventsDropped).toBe(2 * Store.MAX_EVENTS + 2 - Store.MAX_EVENTS);
  });
});

describe("conditions joined with allOf", () => {
  it("keep a condition with an OR outside parentheses whole, and add no parentheses elsewhere", () => {
    expect(allOf("#a = :a AND #b = :b", "size(#e) < :max")).toBe("#a = :a AND #b = :b AND size(#e) < :max");
    expect(allOf("#a = :a AND (#s = :q OR #s = :r)", "#n < :n")).toBe("#a = :a AND (#s = :q OR #s = :r) AND #n < :n");
    expect(allOf("#s = :q OR #s = :r", "#n < :n")).toBe("(#s = :q OR #s = :r) AND #n < :n");
    expect(allOf("(#s = :q) or #s = :r", "#n < :n")).toBe("((#s = :q) or #s = :r) AND #n < :n");
    expect(allOf("#s IN (:q, :r)", "#order = :o")).toBe("#s IN (:q, :r) AND #order = :o");
  });
});

describe("a local data directory from before the task indexes", () => {
  it("is refused at start with what to do", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "nexus-old-layout-"));
    try {
      // The table as the earlier layout had it: GSI1–GSI4 only.
      const dynamo = await startDynamo({ path: join(dataDir, "dynamodb") });
      const { ddb } = createClients({
        region: "us-east-1",
        dynamodbEndpoint: dynamo.endpoint,
        credentials: { accessKeyId: "test", secretAccessKey: "test" },
      });
      const gsis = ["GSI1", "GSI2", "GSI3", "GSI4"];
      await ddb.send(
        new CreateTableCommand({
          TableName: "nexus-local",
          BillingMode: "PAY_PER_REQUEST",
          AttributeDefinitions: ["PK", "SK", ...gsis.flatMap((g) => [`${g}PK`, `${g}SK`])].map((AttributeName) => ({
            AttributeName,
            AttributeType: "S",
          })),
          KeySchema: [
            { AttributeName: "PK", KeyType: "HASH" },
            { AttributeName: "SK", KeyType: "RANGE" },
          ],
          GlobalSecondaryIndexes: gsis.map((g) => ({
            IndexName: g,
            KeySchema: [
              { AttributeName: `${g}PK`, KeyType: "HASH" },
              { AttributeName: `${g}SK`, KeyType: "RANGE" },
            ],
            Projection: { ProjectionType: "ALL" },
          })),
        }),
      );
      ddb.destroy();
      await dynamo.stop();

      const started = startLocal({ port: 0, dataDir, logLevel: "SILENT", agents: [], standIns: [] });
      await expect(started).rejects.toThrow(/earlier version of Nexus: it lacks the indexes TASKS_ALL/);
      await expect(started).rejects.toThrow(join(dataDir, "dynamodb"));
      await expect(started).rejects.toThrow(/Move .* aside \(or delete it\)/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
