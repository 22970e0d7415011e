import { ACCESS, type RouteKey } from "@nexus/api";
import * as Agents from "@nexus/core/agents";
import * as Failures from "@nexus/core/failures";
import * as Queues from "@nexus/core/queues";
import * as Tasks from "@nexus/core/tasks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manualClock } from "../support/context.js";
import { ADMIN_KEY, startSecured } from "./harness.js";

const clock = manualClock(new Date());
let h: Awaited<ReturnType<typeof startSecured>>;
const keys: Record<string, string> = {};
let ownTaskId = "";
let otherTaskId = "";
let n = 0;

beforeAll(async () => {
  h = await startSecured({ now: clock.now });
  for (const name of ["own-agent", "other-agent"]) {
    const r = await h.call("POST", "/v1/agents", ADMIN_KEY, { name, actions: [{ name: "work" }] });
    expect(r.status).toBe(201);
  }
  ownTaskId = (await h.call("POST", "/v1/tasks", ADMIN_KEY, { agentId: "own-agent", action: "work" })).body.id;
  otherTaskId = (await h.call("POST", "/v1/tasks", ADMIN_KEY, { agentId: "other-agent", action: "work" })).body.id;
  keys.admin = (await h.createKey("admin")).token;
  keys.operator = (await h.createKey("operator")).token;
  keys.viewer = (await h.createKey("viewer")).token;
  keys.agent = (await h.createKey("agent", { agentId: "own-agent" })).token;
});
afterAll(async () => {
  await h?.env.stop();
});

/** A fresh, valid request for each route (as the agent key's own objects where one is bound). */
async function requestFor(route: RouteKey): Promise<{ method: string; path: string; body?: unknown }> {
  n++;
  switch (route) {
    case "GET /v1/health":
      return { method: "GET", path: "/v1/health" };
    case "GET /v1/me":
      return { method: "GET", path: "/v1/me" };
    case "GET /v1/events":
      return { method: "GET", path: "/v1/events" };
    case "GET /v1/events/stream":
      // A stream that ends after a second, so the reply can be read whole.
      return { method: "GET", path: "/v1/events/stream?seconds=1" };
    case "GET /v1/tasks/{id}/logs":
      return { method: "GET", path: `/v1/tasks/${ownTaskId}/logs` };
    case "POST /v1/agents":
      return { method: "POST", path: "/v1/agents", body: { name: `matrix-${n}`, actions: [{ name: "a" }] } };
    case "GET /v1/agents":
      return { method: "GET", path: "/v1/agents" };
    case "GET /v1/agents/{id}":
      return { method: "GET", path: "/v1/agents/own-agent" };
    case "POST /v1/tasks":
      return { method: "POST", path: "/v1/tasks", body: { agentId: "own-agent", action: "work" } };
    case "POST /v1/tasks/batch":
      return { method: "POST", path: "/v1/tasks/batch", body: { tasks: [{ agentId: "own-agent", action: "work" }] } };
    case "POST /v1/agents/{id}/deactivate":
    case "POST /v1/agents/{id}/reactivate": {
      const name = `life-${n}`;
      await h.call("POST", "/v1/agents", ADMIN_KEY, { name, actions: [{ name: "a" }] });
      return {
        method: "POST",
        path: `/v1/agents/${name}/${route.endsWith("deactivate") ? "deactivate" : "reactivate"}`,
      };
    }
    case "DELETE /v1/agents/{id}": {
      const name = `gone-${n}`;
      await h.call("POST", "/v1/agents", ADMIN_KEY, { name, actions: [{ name: "a" }] });
      return { method: "DELETE", path: `/v1/agents/${name}` };
    }
    case "POST /v1/agents/{id}/heartbeat":
      return {
        method: "POST",
        path: "/v1/agents/own-agent/heartbeat",
        body: { load: 0, done: 1, failed: 0, intervalSeconds: 60 },
      };
    case "GET /v1/tasks":
      return { method: "GET", path: "/v1/tasks" };
    case "GET /v1/tasks/{id}":
      return { method: "GET", path: `/v1/tasks/${ownTaskId}` };
    case "GET /v1/tasks/{id}/params":
      return { method: "GET", path: `/v1/tasks/${ownTaskId}/params` };
    case "GET /v1/tasks/{id}/result": {
      const { id, leaseToken } = await leasedTask();
      await h.call("POST", `/v1/tasks/${id}/complete`, ADMIN_KEY, { leaseToken, result: { ok: true } });
      return { method: "GET", path: `/v1/tasks/${id}/result` };
    }
    case "POST /v1/tasks/{id}/cancel": {
      const task = await h.call("POST", "/v1/tasks", ADMIN_KEY, { agentId: "own-agent", action: "work" });
      return { method: "POST", path: `/v1/tasks/${task.body.id}/cancel` };
    }
    case "POST /v1/agents/{id}/tasks/claim":
      return { method: "POST", path: "/v1/agents/own-agent/tasks/claim", body: { waitSeconds: 0 } };
    case "POST /v1/tasks/{id}/complete": {
      const { id, leaseToken } = await leasedTask();
      return { method: "POST", path: `/v1/tasks/${id}/complete`, body: { leaseToken, result: { ok: true } } };
    }
    case "POST /v1/tasks/{id}/fail": {
      const { id, leaseToken } = await leasedTask();
      const error = { code: "matrix", message: "failed on purpose", retriable: false };
      return { method: "POST", path: `/v1/tasks/${id}/fail`, body: { leaseToken, error } };
    }
    case "POST /v1/tasks/{id}/extend": {
      const { id, leaseToken } = await leasedTask();
      return { method: "POST", path: `/v1/tasks/${id}/extend`, body: { leaseToken } };
    }
    case "POST /v1/keys":
      return { method: "POST", path: "/v1/keys", body: { name: `k-${n}`, role: "viewer" } };
    case "GET /v1/keys":
      return { method: "GET", path: "/v1/keys" };
    case "GET /v1/keys/{id}": {
      const key = await h.createKey("viewer");
      return { method: "GET", path: `/v1/keys/${key.id}` };
    }
    case "DELETE /v1/keys/{id}": {
      const key = await h.createKey("viewer");
      return { method: "DELETE", path: `/v1/keys/${key.id}` };
    }
    case "GET /v1/audit":
      return { method: "GET", path: "/v1/audit" };
    case "GET /v1/alarms":
      return { method: "GET", path: "/v1/alarms" };
    case "GET /v1/backup/export":
      return { method: "GET", path: "/v1/backup/export" };
    case "POST /v1/backup/import": {
      // This deployment is not empty: a forced import of a backup that holds nothing but its header.
      const backupId = `bkp_${String(n).padStart(26, "0")}`;
      const header = { type: "header", format: "nexus-backup", version: 1, backupId, asOf: new Date().toISOString() };
      const lines = [JSON.stringify({ ...header, table: "nexus-local" })];
      return { method: "POST", path: "/v1/backup/import", body: { backupId, firstLine: 1, lines, force: true } };
    }
    case "GET /v1/failures":
      return { method: "GET", path: "/v1/failures" };
    case "GET /v1/failures/{id}":
      return { method: "GET", path: `/v1/failures/${await failure()}` };
    case "POST /v1/failures/{id}/redrive":
      return { method: "POST", path: `/v1/failures/${await failure()}/redrive` };
    case "POST /v1/failures/redrive":
      return { method: "POST", path: "/v1/failures/redrive", body: { agentId: "own-agent", max: 1 } };
    case "POST /v1/plans":
      return { method: "POST", path: "/v1/plans", body: { steps: [GATE] } };
    case "GET /v1/plans":
      return { method: "GET", path: "/v1/plans" };
    case "GET /v1/plans/{id}":
      return { method: "GET", path: `/v1/plans/${await gatedPlan()}` };
    case "POST /v1/plans/{id}/cancel":
      return { method: "POST", path: `/v1/plans/${await gatedPlan()}/cancel` };
    case "POST /v1/plans/{id}/retry": {
      const id = await gatedPlan();
      await h.call("POST", `/v1/plans/${id}/cancel`, ADMIN_KEY);
      return { method: "POST", path: `/v1/plans/${id}/retry` };
    }
    case "POST /v1/plans/{id}/steps/{stepId}/approve":
    case "POST /v1/plans/{id}/steps/{stepId}/reject": {
      const id = await gatedPlan();
      await waitForGate(id);
      return { method: "POST", path: `/v1/plans/${id}/steps/gate/${route.endsWith("approve") ? "approve" : "reject"}` };
    }
    case "POST /v1/schedules":
      return { method: "POST", path: "/v1/schedules", body: scheduleBody() };
    case "GET /v1/schedules":
      return { method: "GET", path: "/v1/schedules" };
    case "POST /v1/schedules/preview":
      return { method: "POST", path: "/v1/schedules/preview", body: { cron: "cron(0 9 * * ? *)" } };
    case "GET /v1/schedules/{id}":
      return { method: "GET", path: `/v1/schedules/${await schedule()}` };
    case "PATCH /v1/schedules/{id}":
      return { method: "PATCH", path: `/v1/schedules/${await schedule()}`, body: { enabled: false } };
    case "DELETE /v1/schedules/{id}":
      return { method: "DELETE", path: `/v1/schedules/${await schedule()}` };
    case "POST /v1/schedules/{id}/run-now":
      return { method: "POST", path: `/v1/schedules/${await schedule()}/run-now` };
  }
}

const scheduleBody = () => ({
  name: `matrix-schedule-${n}-${Math.random().toString(36).slice(2)}`,
  cron: "cron(0 9 * * ? *)",
  target: { type: "task", agentId: "own-agent", action: "work" },
});

/** A new schedule of a task for own-agent; returns its id. */
async function schedule(): Promise<string> {
  const reply = await h.call("POST", "/v1/schedules", ADMIN_KEY, scheduleBody());
  if (reply.status !== 201) throw new Error(`schedule creation failed: ${reply.status} ${reply.text}`);
  return reply.body.id;
}

const ROLES = ["admin", "operator", "viewer", "agent"] as const;

const GATE = { id: "gate", kind: "approval", message: "Go on?" };

/** A task of own-agent that failed for good, in the failures inbox; returns the failure's id. */
async function failure(): Promise<string> {
  const { ctx } = h.env;
  const id = (await h.call("POST", "/v1/tasks", ADMIN_KEY, { agentId: "own-agent", action: "work" })).body.id;
  const error = { code: "broken", message: "it broke", retriable: false };
  const at = new Date().toISOString();
  await Tasks.transition(ctx, {
    task: { id, agentId: "own-agent" },
    to: "failed",
    set: { error, finishedAt: at },
    events: [{ at, type: "failed", error }],
    condition: "attribute_exists(PK)",
  });
  const agent = await Agents.get(ctx, "own-agent");
  await Queues.sendDeadLetter(ctx, agent.queue.dlqUrl, {
    taskId: id,
    agentId: "own-agent",
    action: "work",
    attempts: 1,
    error,
    failedAt: at,
  });
  await Failures.ingest(ctx);
  return `flr_${id}`;
}

/** A new plan that stops at an approval gate. */
async function gatedPlan(): Promise<string> {
  const reply = await h.call("POST", "/v1/plans", ADMIN_KEY, { steps: [GATE] });
  if (reply.status !== 201) throw new Error(`plan creation failed: ${reply.status} ${reply.text}`);
  return reply.body.id;
}

async function waitForGate(id: string) {
  for (let i = 0; i < 100; i++) {
    const plan = await h.call("GET", `/v1/plans/${id}`, ADMIN_KEY);
    if (plan.body.status === "waiting_approval") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`plan ${id} never reached its gate`);
}

/** A new task of own-agent, claimed with the admin key: its id and lease token. */
async function leasedTask(): Promise<{ id: string; leaseToken: string }> {
  const { id } = (await h.call("POST", "/v1/tasks", ADMIN_KEY, { agentId: "own-agent", action: "work" })).body;
  for (let i = 0; i < 50; i++) {
    const claimed = await h.call("POST", "/v1/agents/own-agent/tasks/claim", ADMIN_KEY, { max: 10, waitSeconds: 0 });
    const task = claimed.body.tasks?.find((t: { id: string }) => t.id === id);
    if (task) return task;
  }
  throw new Error(`task ${id} was never claimed`);
}

describe("route × role matrix", () => {
  const routes = Object.keys(ACCESS) as RouteKey[];

  it("covers every route the API serves", async () => {
    const doc = (await h.call("GET", "/openapi.json")).body;
    const served = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect([...served].sort()).toEqual([...routes].sort());
  });

  for (const route of Object.keys(ACCESS) as RouteKey[]) {
    const rule = ACCESS[route];
    it(`${route}: no key → ${rule === "public" ? "200 (public)" : "401"}; allowed roles → 2xx; others → 403`, async () => {
      const anonymous = await requestFor(route);
      const reply = await h.call(anonymous.method, anonymous.path, undefined, anonymous.body);
      if (rule === "public") {
        expect(reply.status).toBe(200);
        return;
      }
      expect(reply.status).toBe(401);
      expect(reply.headers.get("www-authenticate")).toContain("Bearer");
      for (const role of ROLES) {
        const request = await requestFor(route);
        const result = await h.call(request.method, request.path, keys[role], request.body);
        const label = `${role} on ${route}: ${result.status} ${result.text.slice(0, 200)}`;
        if ((rule as readonly string[]).includes(role)) {
          expect(result.status, label).toBeGreaterThanOrEqual(200);
          expect(result.status, label).toBeLessThan(300);
        } else {
          expect(result.status, label).toBe(403);
          expect(result.body.error.code, label).toBe("forbidden");
        }
      }
    });
  }
});

describe("object-level checks for agent keys (BOLA)", () => {
  it("never reads another agent's task or agent record", async () => {
    expect((await h.call("GET", `/v1/tasks/${otherTaskId}`, keys.agent)).status).toBe(404);
    expect((await h.call("GET", `/v1/tasks/${ownTaskId}`, keys.agent)).status).toBe(200);
    expect((await h.call("GET", "/v1/agents/other-agent", keys.agent)).status).toBe(404);
    expect((await h.call("GET", "/v1/agents/diag", keys.agent)).status).toBe(404);
  });

  it("lists only its own agent's tasks", async () => {
    const mine = await h.call("GET", "/v1/tasks?limit=100", keys.agent);
    expect(mine.status).toBe(200);
    expect(mine.body.items.length).toBeGreaterThan(0);
    expect(mine.body.items.every((t: { agentId: string }) => t.agentId === "own-agent")).toBe(true);
    const theirs = await h.call("GET", "/v1/tasks?agentId=other-agent", keys.agent);
    expect(theirs.status).toBe(403);
    const byStatus = await h.call("GET", "/v1/tasks?status=queued&limit=100", keys.agent);
    expect(byStatus.body.items.map((t: { id: string }) => t.id)).not.toContain(otherTaskId);
  });

  it("cannot complete, cancel or create work, nor mint keys", async () => {
    // (the matrix's claims may have claimed this task: what matters is that nothing below changes it)
    const before = (await h.call("GET", `/v1/tasks/${ownTaskId}`, ADMIN_KEY)).body;
    const stale = { leaseToken: "not-the-lease-token-of-this-task", result: { forged: true } };
    expect((await h.call("POST", `/v1/tasks/${ownTaskId}/complete`, keys.agent, stale)).status).toBe(409);
    expect((await h.call("POST", `/v1/tasks/${ownTaskId}/cancel`, keys.agent)).status).toBe(403);
    expect((await h.call("POST", "/v1/tasks", keys.agent, { agentId: "own-agent", action: "work" })).status).toBe(403);
    expect((await h.call("POST", "/v1/keys", keys.agent, { name: "x", role: "admin" })).status).toBe(403);
    expect((await h.call("GET", `/v1/tasks/${ownTaskId}`, ADMIN_KEY)).body).toEqual(before);
  });

  it("claims and reports only for its own agent", async () => {
    const lease = { leaseToken: "not-the-lease-token-of-this-task" };
    expect((await h.call("POST", "/v1/agents/other-agent/tasks/claim", keys.agent, { waitSeconds: 0 })).status).toBe(
      403,
    );
    for (const [action, body] of [
      ["complete", { ...lease, result: 1 }],
      ["fail", { ...lease, error: { code: "x", message: "x" } }],
      ["extend", lease],
    ] as const) {
      const reply = await h.call("POST", `/v1/tasks/${otherTaskId}/${action}`, keys.agent, body);
      expect(reply.status, action).toBe(404);
    }
    expect((await h.call("GET", `/v1/tasks/${otherTaskId}`, ADMIN_KEY)).body.status).toBe("queued");
  });
});

describe("server-owned fields cannot be written (mass assignment)", () => {
  const cases: Array<[string, string, Record<string, unknown>]> = [
    ["POST", "/v1/tasks", { agentId: "own-agent", action: "work", status: "succeeded" }],
    ["POST", "/v1/tasks", { agentId: "own-agent", action: "work", attempts: 0 }],
    ["POST", "/v1/tasks", { agentId: "own-agent", action: "work", id: "tsk_mine" }],
    ["POST", "/v1/tasks", { agentId: "own-agent", action: "work", createdAt: "2000-01-01T00:00:00Z" }],
    ["POST", "/v1/tasks", { agentId: "own-agent", action: "work", result: { ok: true } }],
    ["POST", "/v1/agents", { name: "masspush", actions: [{ name: "a" }], builtin: true }],
    ["POST", "/v1/agents", { name: "masspush", actions: [{ name: "a" }], status: "inactive" }],
    ["POST", "/v1/agents", { name: "masspush", actions: [{ name: "a" }], queue: { url: "http://evil" } }],
    ["POST", "/v1/agents", { name: "masspush", actions: [{ name: "a" }], id: "diag" }],
    ["POST", "/v1/keys", { name: "k", role: "viewer", id: "chosen" }],
    ["POST", "/v1/keys", { name: "k", role: "viewer", hash: "00" }],
    ["POST", "/v1/keys", { name: "k", role: "viewer", createdBy: "someone-else" }],
    ["POST", "/v1/keys", { name: "k", role: "viewer", revokedAt: null, lastUsedAt: "2000-01-01T00:00:00Z" }],
    ["POST", "/v1/keys", { name: "k", role: "viewer", key: "nxk_chosen_secret" }],
    ["POST", "/v1/plans", { steps: [{ id: "gate", kind: "approval", message: "?" }], status: "succeeded" }],
    ["POST", "/v1/plans", { steps: [{ id: "gate", kind: "approval", message: "?" }], id: "pln_mine" }],
    ["POST", "/v1/plans", { steps: [{ id: "gate", kind: "approval", message: "?" }], run: 7 }],
    ["POST", "/v1/plans", { steps: [{ id: "gate", kind: "approval", message: "?", status: "succeeded" }] }],
    ["POST", "/v1/plans", { steps: [{ id: "gate", kind: "approval", message: "?", decidedBy: "me" }] }],
  ];

  it("refuses each with a 400 naming the field, and stores nothing", async () => {
    const before = {
      tasks: (await h.call("GET", "/v1/tasks?limit=100", ADMIN_KEY)).body,
      agents: (await h.call("GET", "/v1/agents?limit=100", ADMIN_KEY)).body,
      keys: (await h.call("GET", "/v1/keys?limit=100", ADMIN_KEY)).body,
      plans: (await h.call("GET", "/v1/plans?limit=100", ADMIN_KEY)).body,
    };
    for (const [method, path, body] of cases) {
      const reply = await h.call(method, path, ADMIN_KEY, body);
      const extra = Object.keys(body).find(
        (k) => !["agentId", "action", "name", "actions", "role", "steps"].includes(k),
      );
      expect(reply.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(JSON.stringify(reply.body.error), path).toContain(extra ?? "");
    }
    const after = {
      tasks: (await h.call("GET", "/v1/tasks?limit=100", ADMIN_KEY)).body,
      agents: (await h.call("GET", "/v1/agents?limit=100", ADMIN_KEY)).body,
      keys: (await h.call("GET", "/v1/keys?limit=100", ADMIN_KEY)).body,
      plans: (await h.call("GET", "/v1/plans?limit=100", ADMIN_KEY)).body,
    };
    expect(after).toEqual(before);
  });

  it("does not let an operator raise its own role or mint an admin key", async () => {
    const reply = await h.call("POST", "/v1/keys", keys.operator, { name: "escalate", role: "admin" });
    expect(reply.status).toBe(403);
  });
});
