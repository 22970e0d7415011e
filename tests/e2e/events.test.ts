import { setTimeout as sleep } from "node:timers/promises";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import * as Events from "@nexus/core/events";
import { describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

const local = useLocalNexus();

interface FeedEvent {
  id: string;
  cursor: string;
  at: string;
  kind: string;
  type: string;
  agentId?: string;
  taskId?: string;
  planId?: string;
  stepId?: string;
  scheduleId?: string;
  attempt?: number;
}

/** Every event after `start` (a time), page by page of `limit`, until the feed has nothing more. */
async function readAll(start: string, limit: number, filter = ""): Promise<FeedEvent[]> {
  const events: FeedEvent[] = [];
  let page = await local.api.get(`/v1/events?since=${start}&limit=${limit}${filter}`);
  for (;;) {
    expect(page.status).toBe(200);
    events.push(...page.body.items);
    if (page.body.items.length === 0) return events;
    page = await local.api.get(`/v1/events?after=${page.body.nextCursor}&limit=${limit}${filter}`);
  }
}

/** Reads the feed from `start` until `done` holds for what was read (the feed lags a second behind now). */
async function readUntil(start: string, done: (events: FeedEvent[]) => boolean, filter = ""): Promise<FeedEvent[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const events = await readAll(start, 100, filter);
    if (done(events) || Date.now() > deadline) return events;
    await sleep(200);
  }
}

const typesOf = (events: FeedEvent[], taskId: string) => events.filter((e) => e.taskId === taskId).map((e) => e.type);

describe("the change feed (GET /v1/events)", () => {
  it("has a task's events, oldest first, with filters by agent and kind", async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const task = (await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { n: 1 } })).body;
    await local.api.waitForTask(task.id);
    const events = await readUntil(start, (all) => typesOf(all, task.id).includes("succeeded"));
    expect(typesOf(events, task.id)).toEqual(["queued", "started", "succeeded"]);
    const mine = events.filter((e) => e.taskId === task.id);
    expect(mine.every((e) => e.kind === "task" && e.agentId === "diag" && e.at >= start)).toBe(true);
    expect(mine.find((e) => e.type === "started")?.attempt).toBe(1);
    const positions = events.map((e) => e.at);
    expect(positions).toEqual([...positions].sort());

    const diagTasks = await readAll(start, 100, "&agentId=diag&kind=task");
    expect(typesOf(diagTasks, task.id)).toEqual(["queued", "started", "succeeded"]);
    expect(diagTasks.every((e) => e.agentId === "diag" && e.kind === "task")).toBe(true);
    expect(await readAll(start, 100, "&agentId=comms")).not.toContainEqual(
      expect.objectContaining({ taskId: task.id }),
    );
  });

  it("pages without skipping or repeating: one event a page reads what one page of all does", async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { i } })).body.id);
    }
    for (const id of ids) await local.api.waitForTask(id);
    const whole = await readUntil(start, (all) => ids.every((id) => typesOf(all, id).includes("succeeded")));
    const byOne = await readAll(start, 1);
    expect(byOne.map((e) => e.id).slice(0, whole.length)).toEqual(whole.map((e) => e.id));
    expect(new Set(byOne.map((e) => e.id)).size).toBe(byOne.length);
  });

  it("goes on from a cursor: what came before is not read again, what comes after is", async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const first = (await local.api.post("/v1/tasks", { agentId: "diag", action: "echo" })).body;
    await local.api.waitForTask(first.id);
    await readUntil(start, (all) => typesOf(all, first.id).includes("succeeded"));
    // Where a page leaves off (not an event's own cursor): the position a follower keeps polling from.
    const cursor = (await local.api.get(`/v1/events?since=${start}&limit=200`)).body.nextCursor;
    const second = (await local.api.post("/v1/tasks", { agentId: "diag", action: "echo" })).body;
    await local.api.waitForTask(second.id);
    let after: FeedEvent[] = [];
    for (let i = 0; i < 50 && !typesOf(after, second.id).includes("succeeded"); i++) {
      await sleep(200);
      const page = await local.api.get(`/v1/events?after=${cursor}`);
      after = page.body.items;
    }
    expect(typesOf(after, second.id)).toEqual(["queued", "started", "succeeded"]);
    expect(typesOf(after, first.id)).toEqual([]);
  });

  it("reports plans, agents and schedules too", async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const plan = (await local.api.post("/v1/plans", { steps: [{ id: "gate", kind: "approval", message: "Go?" }] }))
      .body;
    const name = `feed-${Math.random().toString(36).slice(2, 8)}`;
    await local.api.post("/v1/agents", { name, actions: [{ name: "work" }] });
    await local.api.post(`/v1/agents/${name}/deactivate`);
    const schedule = (
      await local.api.post("/v1/schedules", {
        name,
        rate: "rate(1 hour)",
        target: { type: "task", agentId: "diag", action: "echo" },
      })
    ).body;
    await local.api.raw("PATCH", `/v1/schedules/${schedule.id}`, { enabled: false });
    const events = await readUntil(
      start,
      (all) =>
        all.some((e) => e.scheduleId === schedule.id && e.type === "updated") &&
        all.some((e) => e.planId === plan.id && e.type !== "created"),
    );
    expect(events.filter((e) => e.planId === plan.id).map((e) => e.type)).toContain("created");
    expect(events.filter((e) => e.kind === "plan" && e.planId === plan.id).length).toBeGreaterThan(1);
    expect(events.filter((e) => e.agentId === name).map((e) => e.type)).toEqual(["registered", "deactivated"]);
    expect(events.filter((e) => e.scheduleId === schedule.id).map((e) => e.type)).toEqual(["created", "updated"]);
    const onlyAgents = await readAll(start, 100, "&kind=agent");
    expect(onlyAgents.length).toBeGreaterThan(0);
    expect(onlyAgents.every((e) => e.kind === "agent")).toBe(true);
  });

  it("reads across hours and shards, catching up from far behind over several reads, skipping nothing", async () => {
    const { ctx } = local.nexus;
    const agentId = `hours-${Math.random().toString(36).slice(2, 8)}`;
    // Events of an agent over the last 20 hours: three an hour at odd minutes, each published at its own time.
    const now = Date.now();
    const published: string[] = [];
    for (let hour = 20; hour >= 1; hour--) {
      for (const minute of [7, 29, 51]) {
        const at = new Date(now - hour * 3_600_000 + minute * 60_000);
        const message = `h${hour}m${minute}`;
        await Events.publish({ ...ctx, now: () => at }, [{ kind: "agent", type: "test", agentId, message }]);
        published.push(message);
      }
    }
    const since = new Date(now - 21 * 3_600_000).toISOString();
    const read: string[] = [];
    let reads = 0;
    let page = await local.api.get(`/v1/events?since=${since}&agentId=${agentId}&limit=4`);
    for (;;) {
      expect(page.status).toBe(200);
      reads++;
      read.push(...page.body.items.map((e: FeedEvent & { message: string }) => e.message));
      if (read.length >= published.length || reads > 200) break;
      page = await local.api.get(`/v1/events?after=${page.body.nextCursor}&agentId=${agentId}&limit=4`);
    }
    expect(read).toEqual(published);
    // Pages of 4 from 60 events need 15 reads; hours with none of them (the filter) cost a few more, never a skip.
    expect(reads).toBeGreaterThanOrEqual(15);
    const after = await local.api.get(`/v1/events?after=${page.body.nextCursor}&agentId=${agentId}`);
    expect(after.body.items).toEqual([]);
  });

  it("writes the events gathered in an agent's batch together (25 a request), all before the batch ends", async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const sent: string[] = [];
    const real = local.nexus.ctx.ddb;
    const ddb = new Proxy(real, {
      get(target, property) {
        if (property !== "send") return Reflect.get(target, property);
        return (command: { constructor: { name: string } }, ...rest: unknown[]) => {
          sent.push(command.constructor.name);
          return (target.send as (...args: unknown[]) => unknown)(command, ...rest);
        };
      },
    });
    const ctx = { ...local.nexus.ctx, ddb };
    const failuresBefore = Events.publishFailures();
    await Events.gathering(ctx, async () => {
      for (let i = 0; i < 30; i++) {
        await Events.publish(ctx, [{ kind: "agent", type: "gathered", agentId: "gather-test", message: String(i) }]);
      }
    });
    // Nothing was waiting when the batch returned: 25 then 5, each one BatchWriteItem, no PutItem.
    expect(sent).toEqual(["BatchWriteCommand", "BatchWriteCommand"]);
    const events = await readUntil(
      start,
      (all) => all.filter((e) => e.type === "gathered").length >= 30,
      "&kind=agent",
    );
    const gathered = events.filter((e) => e.type === "gathered") as Array<FeedEvent & { message: string }>;
    expect(gathered.map((e) => Number(e.message)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, i) => i),
    );
    expect(Events.publishFailures()).toBe(failuresBefore);

    // A write that fails is counted, not thrown: the changes the events report are kept.
    const broken = { ...local.nexus.ctx, tableName: "no-such-table" };
    await Events.gathering(broken, () => Events.publish(broken, [{ kind: "agent", type: "lost", agentId: "x" }]));
    expect(Events.publishFailures()).toBe(failuresBefore + 1);
  });

  it("refuses a cursor it did not issue, naming the field", async () => {
    for (const after of [
      "nope",
      Buffer.from("p:2026-01-01").toString("base64url"),
      Buffer.from("x").toString("base64url"),
    ]) {
      const reply = await local.api.get(`/v1/events?after=${after}`);
      expect(reply.status).toBe(400);
      expect(JSON.stringify(reply.body.error)).toContain("after");
    }
    expect((await local.api.get("/v1/events?kind=nope")).status).toBe(400);
    expect((await local.api.get("/v1/events?limit=500")).status).toBe(400);
  });

  it("streams the same events as server-sent events", async () => {
    const start = new Date(Date.now() - 1000).toISOString();
    const streaming = fetch(`${local.nexus.url}/v1/events/stream?since=${start}&seconds=4`, {
      headers: { authorization: `Bearer ${local.nexus.adminKey}` },
    });
    const task = (await local.api.post("/v1/tasks", { agentId: "diag", action: "echo" })).body;
    const response = await streaming;
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const text = await response.text();
    const events = text
      .split("\n\n")
      .filter((message) => message.includes("event: feed"))
      .map(
        (message) =>
          JSON.parse(
            message
              .split("\n")
              .find((l) => l.startsWith("data:"))
              ?.slice(5) ?? "{}",
          ) as FeedEvent,
      );
    expect(typesOf(events, task.id)).toEqual(["queued", "started", "succeeded"]);
    const ids = text
      .split("\n")
      .filter((l) => l.startsWith("id: "))
      .map((l) => l.slice(4));
    expect(ids).toEqual(events.map((e) => e.cursor));
  });
});

describe("task logs (GET /v1/tasks/{id}/logs)", () => {
  it("keeps every attempt's lines: a failed attempt's and the retry's", async () => {
    const task = (await local.api.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 1 } })).body;
    const done: Json = await local.api.waitForTask(task.id, ["succeeded", "failed"], 20_000);
    expect(done.status).toBe("succeeded");
    const logs = await local.api.get(`/v1/tasks/${task.id}/logs`);
    expect(logs.status).toBe(200);
    expect(logs.body.taskId).toBe(task.id);
    const attempts = logs.body.attempts as Array<{
      attempt: number;
      dropped: number;
      lines: Array<{ level: string; message: string }>;
    }>;
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    const [first, second] = attempts;
    expect(first?.lines[0]?.message).toBe("attempt 1 of 3 started: fail");
    expect(first?.lines.at(-1)).toMatchObject({ level: "warn" });
    expect(first?.lines.at(-1)?.message).toContain("attempt 1 failed");
    expect(second?.lines.at(-1)?.message).toMatch(/^attempt 2 succeeded in \d+ ms$/);
    expect(first?.dropped).toBe(0);
  });

  it("stores nothing for a quiet attempt that succeeded: its start and end are told from the task's events", async () => {
    const task = (await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { quiet: true } })).body;
    const done: Json = await local.api.waitForTask(task.id, ["succeeded", "failed"], 20_000);
    expect(done.status).toBe("succeeded");
    const stored = await local.nexus.ctx.ddb.send(
      new QueryCommand({
        TableName: local.nexus.ctx.tableName,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :log)",
        ExpressionAttributeValues: { ":pk": `TASK#${task.id}`, ":log": "LOG#" },
        ConsistentRead: true,
      }),
    );
    expect(stored.Items).toEqual([]);
    const logs = await local.api.get(`/v1/tasks/${task.id}/logs`);
    expect(logs.status).toBe(200);
    const [attempt, ...more] = logs.body.attempts as Json[];
    expect(more).toEqual([]);
    const started = done.events.find((e: Json) => e.type === "started");
    const succeeded = done.events.find((e: Json) => e.type === "succeeded");
    expect(attempt).toEqual({
      attempt: 1,
      startedAt: started.at,
      endedAt: succeeded.at,
      dropped: 0,
      lines: [
        { at: started.at, level: "debug", message: "attempt 1 of 3 started: echo" },
        {
          at: succeeded.at,
          level: "debug",
          message: `attempt 1 succeeded in ${Date.parse(succeeded.at) - Date.parse(started.at)} ms`,
        },
      ],
    });
  });

  it("stores the lines of an attempt whose action logged something", async () => {
    const task = (
      await local.api.post("/v1/tasks", {
        agentId: "comms",
        action: "send_email",
        params: { to: ["logs@example.com"], subject: "kept", text: "a line is logged" },
      })
    ).body;
    const done: Json = await local.api.waitForTask(task.id, ["succeeded", "failed"], 20_000);
    expect(done.status).toBe("succeeded");
    const logs = await local.api.get(`/v1/tasks/${task.id}/logs`);
    const messages = (logs.body.attempts[0].lines as Json[]).map((line) => line.message);
    expect(messages[0]).toBe(`attempt 1 of ${done.maxAttempts} started: send_email`);
    expect(messages).toContain("email sent");
    expect(messages.at(-1)).toMatch(/^attempt 1 succeeded in \d+ ms$/);
  });

  it("is 404 for a task that does not exist", async () => {
    const reply = await local.api.get("/v1/tasks/tsk_nope/logs");
    expect(reply.status).toBe(404);
    expect(reply.body.error.code).toBe("not_found");
  });
});

describe("who am I (GET /v1/me)", () => {
  it("names the key, its role and what it may call", async () => {
    const me = await local.api.get("/v1/me");
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ keyId: "bootstrap", role: "admin", agentId: null });
    expect(me.body.can).toContain("POST /v1/keys");
    const key = (await local.api.post("/v1/keys", { name: "feed-viewer", role: "viewer" })).body;
    const viewer = await fetch(`${local.nexus.url}/v1/me`, { headers: { authorization: `Bearer ${key.key}` } });
    const body: Json = await viewer.json();
    expect(body).toMatchObject({ keyId: key.id, name: "feed-viewer", role: "viewer" });
    expect(body.can).toContain("GET /v1/events");
    expect(body.can).not.toContain("POST /v1/tasks");
  });
});
