import { Metrics } from "@aws-lambda-powertools/metrics";
import { NonRetriableError } from "@nexus/core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { apiClient, type Json } from "../support/client.js";
import { manualClock } from "../support/context.js";
import { useLocalNexus } from "../support/local.js";

/**
 * Agent health end to end, on a clock the test moves: heartbeats and the status they give, the sweeper recording
 * changes, per-agent metrics and consumer reconciling, and the probes running the built-in agents' health actions.
 */
const clock = manualClock(new Date("2026-03-02T10:00:00Z"));
const NAMESPACE = "nexus/test";
const metrics = new Metrics({ namespace: NAMESPACE, serviceName: "nexus-sweeper" });
const local = useLocalNexus({
  now: clock.now,
  metrics,
  // Nothing runs behind the test's back: it sweeps, probes and drains nothing unless it says so.
  sweepIntervalMs: 3_600_000,
  probeIntervalMs: 3_600_000,
  failureIngestIntervalMs: 3_600_000,
});

/** EMF records the sweeper writes to stdout (kept here, and out of the test output). */
const emf: string[] = [];
beforeAll(() => {
  const write = process.stdout.write.bind(process.stdout) as (...args: unknown[]) => boolean;
  const capture = (chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = String(chunk);
    if (!text.includes('"_aws"')) return write(chunk, ...rest);
    emf.push(...text.split("\n").filter((line) => line.includes('"_aws"')));
    return true;
  };
  vi.spyOn(process.stdout, "write").mockImplementation(capture as typeof process.stdout.write);
});
afterAll(() => {
  vi.restoreAllMocks();
});

const later = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
const beat = (overrides: Record<string, unknown> = {}) => ({
  load: 0,
  done: 5,
  failed: 0,
  intervalSeconds: 60,
  ...overrides,
});

async function register(name: string, actions = [{ name: "work" }]) {
  const reply = await local.api.post("/v1/agents", { name, actions });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
}

describe("heartbeats", () => {
  it("make an agent online; without them it turns late (degraded), then offline, as the sweeper records", async () => {
    await register("remote-one");
    const fresh = (await local.api.get("/v1/agents/remote-one")).body;
    expect(fresh.health).toEqual({
      status: "unknown",
      reason: "no heartbeat yet",
      since: null,
      lastHeartbeatAt: null,
      heartbeat: null,
      queueDepth: 0,
      dlqDepth: 0,
      transitions: [],
    });

    const sentAt = clock.now().toISOString();
    const metricsSent = beat({
      load: 2,
      done: 10,
      failed: 1,
      lastSuccess: { taskId: "tsk_remote_1", at: sentAt },
      version: "1.4.2",
      details: { host: "worker-7", pool: { size: 4 } },
    });
    const reply = await local.api.post("/v1/agents/remote-one/heartbeat", metricsSent);
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body).toMatchObject({
      agentId: "remote-one",
      receivedAt: sentAt,
      health: { status: "online", since: sentAt, heartbeat: metricsSent },
    });
    expect(reply.body.health.transitions).toEqual([
      { at: sentAt, from: "unknown", to: "online", reason: expect.stringContaining("last heartbeat") },
    ]);

    const agent = (await local.api.get("/v1/agents/remote-one")).body;
    expect(agent.lastHeartbeatAt).toBe(sentAt);
    expect(agent.health).toMatchObject({
      status: "online",
      lastHeartbeatAt: sentAt,
      heartbeat: metricsSent,
      queueDepth: 0,
      dlqDepth: 0,
    });
    // what is stored for health stays inside `health`
    expect(Object.keys(agent)).not.toContain("heartbeat");
    expect(Object.keys(agent)).not.toContain("healthState");

    clock.advance(150_000); // more than 2 intervals of 60 s: late
    const late = (await local.api.get("/v1/agents/remote-one")).body.health;
    expect(late).toMatchObject({ status: "degraded", since: later(sentAt, 120_000) });
    expect(late.reason).toContain("heartbeat late");
    expect((await local.nexus.sweep()).agents.changed).toContainEqual({
      agentId: "remote-one",
      from: "online",
      to: "degraded",
      at: later(sentAt, 120_000),
    });

    clock.advance(60_000); // 210 s: more than 3 intervals, offline
    const swept = await local.nexus.sweep();
    expect(swept.agents.changed).toContainEqual({
      agentId: "remote-one",
      from: "degraded",
      to: "offline",
      at: later(sentAt, 180_000),
    });
    const offline = (await local.api.get("/v1/agents/remote-one")).body.health;
    expect(offline).toMatchObject({ status: "offline", since: later(sentAt, 180_000), lastHeartbeatAt: sentAt });
    expect(offline.reason).toBe("no heartbeat for 3 min 30 s (offline after 3 min without one)");
    expect(offline.transitions.map((t: Json) => `${t.from}→${t.to}`)).toEqual([
      "degraded→offline",
      "online→degraded",
      "unknown→online",
    ]);
    // a second sweep records nothing new
    expect((await local.nexus.sweep()).agents.changed.filter((c) => c.agentId === "remote-one")).toEqual([]);

    // lists show the status from the heartbeat alone, without asking SQS
    const listed = (await local.api.get("/v1/agents?limit=100")).body.items.find((a: Json) => a.id === "remote-one");
    expect(listed.health).toMatchObject({ status: "offline", queueDepth: null, dlqDepth: null });

    const back = await local.api.post("/v1/agents/remote-one/heartbeat", beat());
    expect(back.body.health).toMatchObject({ status: "online", since: clock.now().toISOString() });
    expect(back.body.health.transitions[0]).toMatchObject({ from: "offline", to: "online" });
  });

  it("degrade an agent whose error rate is high (with enough samples) or whose health check failed", async () => {
    await register("remote-two");
    const status = async (metrics: Record<string, unknown>) => {
      const reply = await local.api.post("/v1/agents/remote-two/heartbeat", beat(metrics));
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      return reply.body.health;
    };
    const failing = await status({ done: 1, failed: 3 });
    expect(failing.status).toBe("degraded");
    expect(failing.reason).toContain("3 of 4 tasks failed in the last interval");
    expect((await status({ done: 0, failed: 3 })).status).toBe("online"); // 3 samples: too few to judge
    expect((await status({ done: 6, failed: 4 })).status).toBe("online"); // 40 %
    expect((await status({ done: 5, failed: 5 })).status).toBe("degraded"); // 50 %
    const checkFailed = await status({ details: { ok: false, checks: [{ name: "disk", ok: false, detail: "full" }] } });
    expect(checkFailed).toMatchObject({ status: "degraded", reason: "its health check failed (disk)" });
    const history = (await local.api.get("/v1/agents/remote-two")).body.health.transitions;
    expect(history.map((t: Json) => `${t.from}→${t.to}`)).toEqual([
      "online→degraded",
      "degraded→online",
      "unknown→degraded",
    ]);
  });

  it("show the queue's and the DLQ's depths; a dead letter degrades the agent", async () => {
    await register("backlogged");
    for (const i of [1, 2, 3]) {
      expect((await local.api.post("/v1/tasks", { agentId: "backlogged", action: "work", params: { i } })).status).toBe(
        202,
      );
    }
    expect((await local.api.get("/v1/agents/backlogged")).body.health).toMatchObject({ queueDepth: 3, dlqDepth: 0 });

    await register("doomed-worker", [{ name: "explode" }]);
    await local.nexus.attachWorker("doomed-worker", {
      explode: async () => {
        throw new NonRetriableError("boom", "this always fails");
      },
    });
    const task = await local.api.post("/v1/tasks", { agentId: "doomed-worker", action: "explode" });
    expect(await local.api.waitForTask(task.body.id)).toMatchObject({ status: "failed", error: { code: "boom" } });
    // the worker dead-letters the task right after failing it
    await local.api.waitUntil("/v1/agents/doomed-worker", (agent) => agent.health.dlqDepth === 1, 10_000);
    const reply = await local.api.post("/v1/agents/doomed-worker/heartbeat", beat({ done: 0, failed: 1 }));
    expect(reply.body.health).toMatchObject({ status: "degraded", dlqDepth: 1 });
    expect(reply.body.health.reason).toContain("1 message in its dead-letter queue");
    const agent = (await local.api.get("/v1/agents/doomed-worker")).body;
    expect(agent.health).toMatchObject({ status: "degraded", dlqDepth: 1 });
    expect(agent.health.transitions).toEqual([expect.objectContaining({ from: "unknown", to: "degraded" })]);

    // once the failures inbox has taken the dead letter, the DLQ is empty and the agent is online again
    await local.nexus.ingestFailures();
    const swept = await local.nexus.sweep();
    expect(swept.agents.changed).toContainEqual(
      expect.objectContaining({ agentId: "doomed-worker", from: "degraded", to: "online" }),
    );
    expect((await local.api.get("/v1/agents/doomed-worker")).body.health).toMatchObject({
      status: "online",
      dlqDepth: 0,
    });
  });

  it("take only the load: the counts default to 0 and the interval to 60 s", async () => {
    await register("remote-light");
    const sentAt = clock.now().toISOString();
    const reply = await local.api.post("/v1/agents/remote-light/heartbeat", { load: 1 });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const defaults = { load: 1, done: 0, failed: 0, intervalSeconds: 60 };
    expect(reply.body.health).toMatchObject({ status: "online", lastHeartbeatAt: sentAt, heartbeat: defaults });
    expect((await local.api.get("/v1/agents/remote-light")).body.health.heartbeat).toEqual(defaults);
    // What is given is kept; what is not takes its default again.
    const more = await local.api.post("/v1/agents/remote-light/heartbeat", { load: 0, failed: 2, intervalSeconds: 30 });
    expect(more.body.health.heartbeat).toEqual({ load: 0, done: 0, failed: 2, intervalSeconds: 30 });
  });

  it("refuse bad metrics with a 400 naming the field, and agent keys beat for their own agent only", async () => {
    await register("remote-four");
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ done: 1, failed: 0, intervalSeconds: 60 }, "load"],
      [beat({ load: -1 }), "load"],
      [beat({ done: 1.5 }), "done"],
      [beat({ intervalSeconds: 1 }), "intervalSeconds"],
      [beat({ lastSuccess: { taskId: "tsk_1", at: "yesterday" } }), "lastSuccess.at"],
      [beat({ version: "v\n2" }), "version"],
      [beat({ details: { blob: "x".repeat(5000) } }), "details"],
      [beat({ details: { a: { b: { c: { d: { e: { f: 1 } } } } } } }), "details"],
      [beat({ details: ["not", "an", "object"] }), "details"],
    ];
    for (const [body, field] of cases) {
      const reply = await local.api.post("/v1/agents/remote-four/heartbeat", body);
      expect(reply.status, `${field}: ${JSON.stringify(reply.body)}`).toBe(400);
      expect(reply.body.error.code).toBe("validation_error");
      expect(reply.body.error.details.map((d: Json) => d.path)).toContain(field);
    }
    const unknownField = await local.api.post("/v1/agents/remote-four/heartbeat", beat({ status: "online" }));
    expect(unknownField.status).toBe(400);
    expect(JSON.stringify(unknownField.body.error.details)).toContain("status");
    expect((await local.api.post("/v1/agents/nobody-here/heartbeat", beat())).status).toBe(404);
    expect((await local.api.get("/v1/agents/remote-four")).body.health.status).toBe("unknown");

    const keyFor = async (role: string, agentId?: string) => {
      const created = await local.api.post("/v1/keys", { name: `${role}-hb`, role, ...(agentId ? { agentId } : {}) });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return apiClient(local.nexus.url, created.body.key);
    };
    const own = await keyFor("agent", "remote-four");
    expect((await own.post("/v1/agents/remote-four/heartbeat", beat())).body.health.status).toBe("online");
    expect((await own.post("/v1/agents/remote-one/heartbeat", beat())).status).toBe(404);
    expect((await (await keyFor("operator")).post("/v1/agents/remote-four/heartbeat", beat())).status).toBe(403);
    expect((await (await keyFor("viewer")).post("/v1/agents/remote-four/heartbeat", beat())).status).toBe(403);
  });
});

describe("the sweeper", () => {
  it("turns an inactive agent's consumer back off when it was resumed behind its back", async () => {
    const consumers = local.nexus.ctx.consumers;
    if (!consumers?.enabled) throw new Error("the local runtime's consumers tell their state");
    expect((await local.api.post("/v1/agents/strategy/deactivate")).body.status).toBe("inactive");
    expect(await consumers.enabled("strategy")).toBe(false);
    // what a deploy does to an event source mapping the API had disabled
    await consumers.setEnabled("strategy", true);
    expect(await consumers.enabled("strategy")).toBe(true);

    const swept = await local.nexus.sweep();
    expect(swept.agents.reconciled).toEqual([{ agentId: "strategy", enabled: false }]);
    expect(swept.agents.errors).toEqual([]);
    expect(await consumers.enabled("strategy")).toBe(false);
    expect((await local.nexus.sweep()).agents.reconciled).toEqual([]);

    expect((await local.api.post("/v1/agents/strategy/reactivate")).body.status).toBe("active");
    expect(await consumers.enabled("strategy")).toBe(true);
  });

  it("emits one EMF record per agent: AgentOnline, AgentDegraded, QueueDepth, DlqDepth by AgentId", async () => {
    emf.length = 0;
    await local.nexus.sweep();
    const records = emf.map((line) => JSON.parse(line));
    const agents: string[] = (await local.api.get("/v1/agents?limit=100")).body.items.map((a: Json) => a.id);
    expect(records.map((r) => r.AgentId).sort()).toEqual([...agents].sort());
    for (const record of records) {
      const [directive] = record._aws.CloudWatchMetrics;
      expect(directive.Namespace).toBe(NAMESPACE);
      expect(directive.Dimensions).toEqual([expect.arrayContaining(["AgentId"])]);
      expect(directive.Metrics.map((m: Json) => m.Name).sort()).toEqual([
        "AgentDegraded",
        "AgentOnline",
        "DlqDepth",
        "QueueDepth",
      ]);
    }
    const of = (id: string) => records.find((r) => r.AgentId === id);
    expect(of("remote-four")).toMatchObject({ AgentOnline: 1, AgentDegraded: 0, DlqDepth: 0 });
    expect(of("remote-two")).toMatchObject({ AgentOnline: 1, AgentDegraded: 1 });
    expect(of("backlogged")).toMatchObject({ AgentOnline: 0, QueueDepth: 3 });
  });
});

describe("probes", () => {
  it("run each active built-in agent's health action once per interval, which records the agent's heartbeat", {
    timeout: 180_000,
  }, async () => {
    // some work for diag to report: one success, one failure
    const echo = await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { hi: 1 } });
    const fail = await local.api.post("/v1/tasks", {
      agentId: "diag",
      action: "fail",
      params: { times: 5, retriable: false },
    });
    await local.api.waitForTask(echo.body.id);
    await local.api.waitForTask(fail.body.id);
    // its dead letter goes to the failures inbox, as the ingestion pass would take it
    await local.api.waitUntil("/v1/agents/diag", (agent) => agent.health.dlqDepth === 1, 10_000);
    await local.nexus.ingestFailures();

    expect((await local.api.post("/v1/agents/ops/deactivate")).status).toBe(200);
    const first = await local.nexus.probe();
    expect(first.skipped).toEqual([{ agentId: "ops", reason: "inactive" }]);
    expect(first.submitted.map((s) => s.agentId)).toEqual(["comms", "diag", "research", "strategy"]);
    expect((await local.api.post("/v1/agents/ops/reactivate")).status).toBe(200);
    // the same interval slot: ops gets its probe now, the others' are the tasks they already have
    const second = await local.nexus.probe();
    expect(second.slot).toBe(first.slot);
    expect(second.submitted.filter((s) => s.replayed)).toEqual(first.submitted.map((s) => ({ ...s, replayed: true })));
    expect(second.submitted.filter((s) => !s.replayed).map((s) => s.agentId)).toEqual(["ops"]);

    const results: Record<string, Json> = {};
    for (const { agentId, taskId } of second.submitted) {
      const task = await local.api.waitForTask(taskId, undefined, 90_000);
      expect(task, agentId).toMatchObject({ status: "succeeded", action: "health", agentId });
      results[agentId] = task.result;
    }
    const checks = (agentId: string) => results[agentId].checks.map((c: Json) => [c.name, c.ok]);
    expect(checks("diag")).toEqual([["runtime", true]]);
    expect(checks("comms")).toEqual([
      ["email_sender", true],
      ["twilio_secret", true],
      ["chat_secret", true],
    ]);
    expect(checks("ops")).toEqual([
      ["workspace", true],
      ["commands", true],
    ]);
    expect(checks("research")).toEqual([
      ["chromium", true],
      ["lookup_secret", true],
    ]);
    expect(checks("strategy")).toEqual([["planner", true]]);
    for (const result of Object.values(results)) expect(result.ok).toBe(true);

    // nothing of the provider secrets shows, whatever the checks read
    const secretValues = Object.values(local.nexus.standIns).flatMap((standIn) =>
      Object.values(standIn.secrets).flatMap((text) => leaves(JSON.parse(text))),
    );
    expect(secretValues.length).toBeGreaterThan(3);
    const shown = JSON.stringify(results);
    for (const value of secretValues) expect(shown).not.toContain(value);

    const diag = (await local.api.get("/v1/agents/diag")).body.health;
    const diagProbe = second.submitted.find((s) => s.agentId === "diag")?.taskId;
    expect(diag).toMatchObject({
      status: "online",
      lastHeartbeatAt: clock.now().toISOString(),
      heartbeat: {
        load: 0,
        done: 1,
        failed: 1,
        intervalSeconds: 300,
        lastSuccess: { taskId: echo.body.id },
        details: { ok: true, probe: diagProbe, checks: results.diag.checks },
      },
    });
    for (const agentId of ["comms", "ops", "research", "strategy"]) {
      const health = (await local.api.get(`/v1/agents/${agentId}`)).body.health;
      expect(health, agentId).toMatchObject({ status: "online", heartbeat: { intervalSeconds: 300, load: 0 } });
      expect(health.transitions[0], agentId).toMatchObject({ from: "unknown", to: "online" });
    }
  });
});

/** The string leaves of a JSON value (secret values, webhook URLs…) at least 8 characters long. */
function leaves(value: unknown): string[] {
  if (typeof value === "string") return value.length >= 8 ? [value] : [];
  if (value && typeof value === "object") return Object.values(value).flatMap(leaves);
  return [];
}
