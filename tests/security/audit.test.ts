import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { apiClient, type Json } from "../support/client.js";
import { manualClock } from "../support/context.js";
import { useLocalNexus } from "../support/local.js";

/**
 * The audit trail against a caller who needs no key to make requests: refused requests (401, 429) are counted
 * in a few records, not written one by one, and the source address is the one the connection came from, not
 * one the caller wrote in a header. (The Lambda side, API Gateway's source address, is in lambda.test.ts.)
 */
const clock = manualClock(new Date("2026-03-01T12:00:10Z"));
const local = useLocalNexus({ agents: [], now: clock.now });

const auditRecords = async (): Promise<Json[]> => (await local.api.get("/v1/audit?limit=100")).body.items;

/** Counts the DynamoDB writes of the local API's audit counts while a test runs. */
const writes = { counts: 0 };
let restore: () => void = () => undefined;
beforeEach(() => {
  const ddb = local.nexus.ctx.ddb;
  const send = ddb.send.bind(ddb);
  writes.counts = 0;
  ddb.send = ((command: { input?: { Key?: { PK?: unknown } } }, ...rest: unknown[]) => {
    if (String(command.input?.Key?.PK ?? "").startsWith("AUDIT#")) writes.counts++;
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof ddb.send;
  restore = () => {
    ddb.send = send as typeof ddb.send;
  };
});
afterEach(() => restore());

describe("refused requests in the audit trail", () => {
  it("200 requests with bad keys make one record that counts them all, in a few writes", async () => {
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        apiClient(local.nexus.url, `nxk_bogus${i}_secret`).raw("POST", "/v1/tasks", undefined, {
          body: JSON.stringify({ agentId: "diag", action: "echo" }),
          headers: { "content-type": "application/json", "x-forwarded-for": `203.0.113.${i % 250}, 10.0.0.1` },
        }),
      ),
    );
    expect(replies.every((reply) => reply.status === 401)).toBe(true);
    const refused = (await auditRecords()).filter((r) => r.status === 401);
    expect(refused.length).toBe(1);
    expect(refused[0]).toMatchObject({
      keyId: null,
      status: 401,
      outcome: "denied",
      path: "/v1/tasks",
      sourceIp: "127.0.0.1",
      count: 200,
    });
    expect(writes.counts).toBeLessThan(100); // concurrent ones share a write (about 40 of 200 here)
    expect(writes.counts).toBeGreaterThanOrEqual(1);
  });

  it("counts them again in the next minute, in a record of its own", async () => {
    clock.advance(60_000);
    const refused = await Promise.all(
      Array.from({ length: 5 }, () => apiClient(local.nexus.url, "nxk_nope_nope").post("/v1/agents/x/deactivate")),
    );
    expect(refused.map((reply) => reply.status)).toEqual([401, 401, 401, 401, 401]);
    const counts = (await auditRecords()).filter((r) => r.status === 401).map((r) => r.count);
    expect(counts).toEqual([5, 200]);
  });

  it("counts a key's requests over its rate limit, with the key; those let through are recorded each", async () => {
    const created = await local.api.post("/v1/keys", { name: "flooder", role: "viewer", rateLimitPerMinute: 5 });
    expect(created.status).toBe(201);
    const flooder = apiClient(local.nexus.url, created.body.key);
    const replies = await Promise.all(
      Array.from({ length: 30 }, () => flooder.post("/v1/tasks", { agentId: "x", action: "y" })),
    );
    const statuses = replies.map((reply) => reply.status);
    expect(statuses.filter((s) => s === 403).length).toBe(5);
    expect(statuses.filter((s) => s === 429).length).toBe(25);
    const mine = (await auditRecords()).filter((r) => r.keyId === created.body.id);
    expect(mine.filter((r) => r.status === 403).map((r) => r.count)).toEqual([1, 1, 1, 1, 1]);
    expect(mine.filter((r) => r.status === 429)).toEqual([
      expect.objectContaining({ count: 25, role: "viewer", outcome: "rejected", sourceIp: "127.0.0.1" }),
    ]);
  });
});

describe("the source address", () => {
  it("is the connection's, whatever X-Forwarded-For says", async () => {
    const reply = await local.api.raw("POST", "/v1/keys", undefined, {
      body: JSON.stringify({ name: "spoofed", role: "viewer" }),
      headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.7" },
    });
    expect(reply.status).toBe(201);
    const record = (await auditRecords()).find((r) => r.targetId === reply.body.id);
    expect(record).toMatchObject({ route: "/v1/keys", status: 201, sourceIp: "127.0.0.1", count: 1 });
  });
});
