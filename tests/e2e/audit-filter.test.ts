import { beforeAll, describe, expect, it } from "vitest";
import { AUDIT_FILTER_READ_BUDGET, list as listStored } from "../../packages/core/src/storage/audit.js";
import { queryFilteredShardedPage } from "../../packages/core/src/storage/query.js";
import { gsiKeys, partitions, SHARDS } from "../../packages/core/src/storage/table.js";
import { apiClient, type Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/**
 * The audit trail filtered by actor and action on the server: no index holds either, so the listing reads the trail
 * newest first with a bounded budget per request and the filter applied, and its cursor resumes below what it read.
 */
const local = useLocalNexus({ agents: [] });

/** Every record of a filtered listing, following its cursors; also how many pages that took. */
async function readAll(query: string, limit: number): Promise<{ records: Json[]; pages: number }> {
  const records: Json[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const reply: Json = await local.api.get(`/v1/audit?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(reply.status).toBe(200);
    expect(reply.body.items.length).toBeLessThanOrEqual(limit);
    records.push(...reply.body.items);
    cursor = reply.body.nextCursor;
    pages++;
  } while (cursor && pages < 100);
  return { records, pages };
}

let a: Json;
let b: Json;
beforeAll(async () => {
  a = (await local.api.post("/v1/keys", { name: "audit-a", role: "operator" })).body;
  b = (await local.api.post("/v1/keys", { name: "audit-b", role: "operator" })).body;
  const byA = apiClient(local.nexus.url, a.key);
  const byB = apiClient(local.nexus.url, b.key);
  const gate = { steps: [{ id: "g", kind: "approval", message: "ok?" }] };
  // Interleaved: A's plans among B's plans and B's refused task submissions.
  for (let i = 0; i < 7; i++) {
    expect((await byA.post("/v1/plans", gate)).status).toBe(201);
    expect((await byB.post("/v1/plans", gate)).status).toBe(201);
    expect((await byB.post("/v1/tasks", { agentId: "nobody", action: "x" })).status).toBe(404);
  }
});

describe("the audit trail filtered by actor and action", () => {
  it("finds every record of one key and one action across pages, newest first, each once", async () => {
    const everything = (await readAll("", 100)).records;
    const expected = everything.filter((r) => r.keyId === a.id && r.method === "POST" && r.route === "/v1/plans");
    expect(expected).toHaveLength(7);

    const { records, pages } = await readAll(`&actor=${a.id}&action=${encodeURIComponent("POST /v1/plans")}`, 2);
    expect(pages).toBeGreaterThan(3);
    expect(records.map((r) => r.id)).toEqual(expected.map((r) => r.id));

    const ofB = await readAll(`&actor=${b.id}`, 3);
    expect(ofB.pages).toBeGreaterThan(4);
    expect(ofB.records).toHaveLength(14);
    expect(ofB.records.every((r) => r.keyId === b.id)).toBe(true);
    expect(ofB.records.map((r) => r.id)).toEqual([...ofB.records.map((r) => r.id)].sort().reverse());

    const refused = await readAll(`&action=${encodeURIComponent("POST /v1/tasks")}`, 5);
    expect(refused.records.filter((r) => r.keyId === b.id && r.status === 404)).toHaveLength(7);
    expect(refused.records.every((r) => r.method === "POST" && r.route === "/v1/tasks")).toBe(true);
  });

  it("answers a page read to its budget with fewer records, even none, and a cursor that finds the rest", async () => {
    const ctx = local.nexus.ctx;
    // More records than shards, few of them matching, so that one read per shard cannot cover the trail.
    const byB = apiClient(local.nexus.url, b.key);
    for (let i = 0; i < 8; i++) {
      const refused = await Promise.all(
        Array.from({ length: 10 }, () => byB.post("/v1/tasks", { agentId: "nobody", action: "x" })),
      );
      expect(refused.every((reply) => reply.status === 404)).toBe(true);
    }
    const listing = {
      index: "GSI1",
      keys: gsiKeys("GSI1"),
      partition: partitions.audit,
      shards: SHARDS.audit,
      map: (item: Record<string, unknown>) => item as Json,
      filter: { expression: "#m = :m AND #r = :r", names: { "#m": "method", "#r": "route" }, values: {} },
    };
    const filter = { ...listing.filter, values: { ":m": "POST", ":r": "/v1/plans" } };
    // The smallest budget (one read per shard per request): the listing walks the trail a little at a time.
    const found: Json[] = [];
    let cursor: string | undefined;
    let empty = 0;
    for (let pages = 0; pages < 500; pages++) {
      const page = await queryFilteredShardedPage(ctx, { ...listing, filter, budget: 1 }, { limit: 50, cursor });
      if (page.items.length === 0) empty++;
      found.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    const all = await listStored(ctx, { limit: 50 }, { method: "POST", route: "/v1/plans" });
    expect(all.items.length).toBeGreaterThanOrEqual(14);
    expect(found.map((r) => r.id)).toEqual(all.items.map((r) => r.id));
    expect(empty).toBeGreaterThan(0);
    expect(AUDIT_FILTER_READ_BUDGET).toBeGreaterThanOrEqual(SHARDS.audit);
  });

  it("refuses a malformed filter with a 400 naming it", async () => {
    const bad = await local.api.get(`/v1/audit?action=${encodeURIComponent("FETCH everything")}`);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("action");
    const actor = await local.api.get(`/v1/audit?actor=${encodeURIComponent("a b")}`);
    expect(actor.status).toBe(400);
    expect(JSON.stringify(actor.body)).toContain("actor");
  });
});
