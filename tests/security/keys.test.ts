import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manualClock } from "../support/context.js";
import { ADMIN_KEY, startSecured } from "./harness.js";

const clock = manualClock(new Date("2026-06-01T10:00:30Z"));
let h: Awaited<ReturnType<typeof startSecured>>;

beforeAll(async () => {
  h = await startSecured({ now: clock.now, settings: { dailyCaps: { "diag.echo": 2 } } });
});
afterAll(async () => {
  await h?.env.stop();
});

const unauthorizedBody = (body: { error: { code: string; message: string } }) => ({
  code: body.error.code,
  message: body.error.message,
});

describe("API keys", () => {
  it("are random, shown once, listed without secrets, and work until revoked", async () => {
    const created = await h.call("POST", "/v1/keys", ADMIN_KEY, { name: "deploy bot", role: "operator" });
    expect(created.status).toBe(201);
    const token: string = created.body.key;
    expect(token).toMatch(/^nxk_[0-9a-z]{12}_[A-Za-z0-9_-]{43}$/); // 32 random bytes after the id
    expect(created.body).toMatchObject({ name: "deploy bot", role: "operator", createdBy: "bootstrap" });
    expect(token.startsWith(created.body.prefix)).toBe(true);

    const list = await h.call("GET", "/v1/keys?limit=100", ADMIN_KEY);
    const listed = list.body.items.find((k: { id: string }) => k.id === created.body.id);
    expect(listed).toBeDefined();
    expect(list.text).not.toContain(token);
    expect(list.text).not.toContain(token.slice(17)); // the secret part
    expect(Object.keys(listed)).not.toContain("key");
    expect(Object.keys(listed)).not.toContain("hash");
    const one = await h.call("GET", `/v1/keys/${created.body.id}`, ADMIN_KEY);
    expect(one.text).not.toContain(token.slice(17));

    expect((await h.call("GET", "/v1/agents", token)).status).toBe(200);
    const used = await h.call("GET", `/v1/keys/${created.body.id}`, ADMIN_KEY);
    expect(used.body.lastUsedAt).toBe(clock.now().toISOString());

    const revoked = await h.call("DELETE", `/v1/keys/${created.body.id}`, ADMIN_KEY);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toBe(clock.now().toISOString());
    const after = await h.call("GET", "/v1/agents", token);
    expect(after.status).toBe(401);
    expect((await h.call("DELETE", `/v1/keys/${created.body.id}`, ADMIN_KEY)).status).toBe(409);
  });

  it("answer revoked, expired, unknown, malformed and missing keys with one and the same 401", async () => {
    const revoked = await h.createKey("viewer");
    await h.call("DELETE", `/v1/keys/${revoked.id}`, ADMIN_KEY);
    const expiring = await h.call("POST", "/v1/keys", ADMIN_KEY, {
      name: "short-lived",
      role: "viewer",
      expiresAt: new Date(clock.now().getTime() + 60_000).toISOString(),
    });
    expect((await h.call("GET", "/v1/agents", expiring.body.key)).status).toBe(200);
    clock.advance(120_000);
    const unknown = `nxk_000000000000_${"A".repeat(43)}`;
    const forged = `${revoked.token.slice(0, 17)}${"B".repeat(43)}`; // a real id with a wrong secret
    const bodies = [];
    for (const key of [revoked.token, expiring.body.key, unknown, forged, "garbage", undefined]) {
      const reply = await h.call("GET", "/v1/agents", key);
      expect(reply.status, String(key)).toBe(401);
      bodies.push(unauthorizedBody(reply.body));
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    const raw = await h.app.request("/v1/agents", { headers: { authorization: `Basic ${btoa("a:b")}` } });
    expect(raw.status).toBe(401);
  });

  it("bind agent keys to an existing agent only", async () => {
    expect((await h.call("POST", "/v1/keys", ADMIN_KEY, { name: "a", role: "agent" })).status).toBe(400);
    expect((await h.call("POST", "/v1/keys", ADMIN_KEY, { name: "a", role: "agent", agentId: "ghost" })).status).toBe(
      404,
    );
    expect((await h.call("POST", "/v1/keys", ADMIN_KEY, { name: "a", role: "viewer", agentId: "diag" })).status).toBe(
      400,
    );
    const past = { name: "a", role: "viewer", expiresAt: "2000-01-01T00:00:00Z" };
    expect((await h.call("POST", "/v1/keys", ADMIN_KEY, past)).status).toBe(400);
  });

  it("cannot revoke the key making the request", async () => {
    const admin = await h.createKey("admin");
    const reply = await h.call("DELETE", `/v1/keys/${admin.id}`, admin.token);
    expect(reply.status).toBe(409);
    expect(reply.body.error.code).toBe("key_in_use");
  });
});

describe("limits", () => {
  it("rate-limits each key per minute with 429 and Retry-After, then lets it through in the next minute", async () => {
    const created = await h.call("POST", "/v1/keys", ADMIN_KEY, {
      name: "slow",
      role: "viewer",
      rateLimitPerMinute: 3,
    });
    const key: string = created.body.key;
    clock.advance(60_000 - (clock.now().getTime() % 60_000) + 1000); // one second into a fresh minute
    for (let i = 0; i < 3; i++) expect((await h.call("GET", "/v1/agents", key)).status).toBe(200);
    const limited = await h.call("GET", "/v1/agents", key);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBe(59);
    // other keys are not affected
    expect((await h.call("GET", "/v1/agents", ADMIN_KEY)).status).toBe(200);
    clock.advance(60_000);
    expect((await h.call("GET", "/v1/agents", key)).status).toBe(200);
  });

  it("caps costly actions per day for all callers together; replays cost nothing", async () => {
    const first = await h.call("POST", "/v1/tasks", ADMIN_KEY, {
      agentId: "diag",
      action: "echo",
      idempotencyKey: "cap-1",
    });
    expect(first.status).toBe(202);
    const operator = await h.createKey("operator");
    expect((await h.call("POST", "/v1/tasks", operator.token, { agentId: "diag", action: "echo" })).status).toBe(202);
    const over = await h.call("POST", "/v1/tasks", ADMIN_KEY, { agentId: "diag", action: "echo" });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("daily_cap_reached");
    const retryAfter = Number(over.headers.get("retry-after"));
    const midnight = new Date(clock.now());
    midnight.setUTCHours(24, 0, 0, 0);
    expect(retryAfter).toBe(Math.ceil((midnight.getTime() - clock.now().getTime()) / 1000));
    const replay = await h.call("POST", "/v1/tasks", ADMIN_KEY, {
      agentId: "diag",
      action: "echo",
      idempotencyKey: "cap-1",
    });
    expect(replay.status).toBe(202);
    expect(replay.body.id).toBe(first.body.id);
    // uncapped actions go on
    expect(
      (await h.call("POST", "/v1/tasks", ADMIN_KEY, { agentId: "diag", action: "sleep", params: { ms: 1 } })).status,
    ).toBe(202);
    clock.advance(24 * 3600_000);
    expect((await h.call("POST", "/v1/tasks", ADMIN_KEY, { agentId: "diag", action: "echo" })).status).toBe(202);
  });
});

describe("audit trail", () => {
  it("records every mutating request (who, what, when, outcome), newest first, for admins only", async () => {
    const operator = await h.createKey("operator");
    const viewer = await h.createKey("viewer");
    const registered = await h.call("POST", "/v1/agents", operator.token, {
      name: "audited",
      actions: [{ name: "a" }],
    });
    const denied = await h.call("POST", "/v1/agents", viewer.token, { name: "nope", actions: [{ name: "a" }] });
    const anonymous = await h.call("POST", "/v1/tasks", undefined, { agentId: "audited", action: "a" });
    const rejected = await h.call("POST", "/v1/tasks", operator.token, { agentId: "audited", action: "zzz" });
    await h.call("GET", "/v1/agents", operator.token); // reads are not audited
    expect([registered.status, denied.status, anonymous.status, rejected.status]).toEqual([201, 403, 401, 400]);

    const page = await h.call("GET", "/v1/audit?limit=4", ADMIN_KEY);
    expect(page.status).toBe(200);
    const [r4, r3, r2, r1] = page.body.items;
    expect(r1).toMatchObject({
      keyId: operator.id,
      role: "operator",
      method: "POST",
      route: "/v1/agents",
      targetId: "audited",
      status: 201,
      outcome: "success",
    });
    expect(r2).toMatchObject({ keyId: viewer.id, role: "viewer", status: 403, outcome: "denied" });
    expect(r3).toMatchObject({ keyId: null, role: null, status: 401, outcome: "denied", path: "/v1/tasks" });
    expect(r4).toMatchObject({ keyId: operator.id, route: "/v1/tasks", status: 400, outcome: "rejected" });
    expect(r4.requestId).toEqual(expect.any(String));
    expect(Date.parse(r4.at)).toBeGreaterThanOrEqual(Date.parse(r1.at));
    expect(page.body.nextCursor).toEqual(expect.any(String));

    const task = await h.call("POST", "/v1/tasks", operator.token, { agentId: "audited", action: "a" });
    expect(task.status).toBe(202);
    const latest = (await h.call("GET", "/v1/audit?limit=1", ADMIN_KEY)).body.items[0];
    expect(latest).toMatchObject({
      keyId: operator.id,
      role: "operator",
      route: "/v1/tasks",
      targetId: task.body.id,
      status: 202,
      outcome: "success",
      requestId: task.headers.get("x-request-id"),
    });

    expect((await h.call("GET", "/v1/audit", operator.token)).status).toBe(403);
    expect((await h.call("GET", "/v1/audit", viewer.token)).status).toBe(403);
  });

  it("cannot be changed through the API", async () => {
    const before = (await h.call("GET", "/v1/audit?limit=100", ADMIN_KEY)).body.items;
    const id = before[0].id;
    for (const method of ["PUT", "PATCH", "DELETE", "POST"]) {
      for (const path of ["/v1/audit", `/v1/audit/${id}`]) {
        const reply = await h.call(method, path, ADMIN_KEY, method === "DELETE" ? undefined : { outcome: "success" });
        expect(reply.status, `${method} ${path}`).toBe(404);
      }
    }
    const after = (await h.call("GET", "/v1/audit?limit=100", ADMIN_KEY)).body.items;
    // the attempts are themselves on record, and nothing older changed
    expect(after.slice(after.length - before.length)).toEqual(before);
    expect(after.length).toBe(before.length + 8);
    expect(after[0]).toMatchObject({ route: "(unmatched)", status: 404 });
  });
});
