import { NonRetriableError } from "@nexus/core";
import { beforeAll, describe, expect, it } from "vitest";
import type { Json } from "./support/client.js";
import { useLocalNexus } from "./support/local.js";

/**
 * Page cursors are opaque to clients, but only base64url JSON: a client can decode one, edit it and send it
 * back. Whatever it sends, a cursor the listing did not issue is a 400 naming `cursor`, never a 500.
 */
const local = useLocalNexus({ agents: [], failureIngestIntervalMs: 600_000 });

const decode = (cursor: string): { s: string; k: Record<string, string> } =>
  JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Every listing, with its filters: each has at least two items once `beforeAll` has run. */
const LISTINGS = [
  "/v1/agents",
  "/v1/tasks",
  "/v1/tasks?agentId=idle",
  "/v1/tasks?status=queued",
  "/v1/tasks?agentId=idle&status=queued",
  "/v1/plans",
  "/v1/plans?status=running",
  "/v1/schedules",
  "/v1/failures",
  "/v1/failures?agentId=broken",
  "/v1/keys",
  "/v1/audit",
];

beforeAll(async () => {
  const { api, nexus } = local;
  // `idle` has no worker: its tasks stay queued and its plans running. `broken` fails every task for good.
  for (const name of ["idle", "broken"]) {
    const agent = await api.post("/v1/agents", { name, actions: [{ name: "work", retry: { maxAttempts: 1 } }] });
    expect(agent.status).toBe(201);
  }
  await nexus.attachWorker("broken", {
    work: async () => {
      throw new NonRetriableError("declined", "always fails");
    },
  });
  for (let i = 0; i < 2; i++) {
    expect((await api.post("/v1/tasks", { agentId: "idle", action: "work" })).status).toBe(202);
    const failing = await api.post("/v1/tasks", { agentId: "broken", action: "work" });
    expect((await api.waitForTask(failing.body.id)).status).toBe("failed");
    const plan = await api.post("/v1/plans", { steps: [{ id: "only", agentId: "idle", action: "work" }] });
    expect(plan.status).toBe(201);
    await api.waitForPlan(plan.body.id, ["running"]);
    const schedule = await api.post("/v1/schedules", {
      name: `cursor-${i}`,
      rate: "rate(1 day)",
      target: { type: "task", agentId: "idle", action: "work" },
    });
    expect(schedule.status).toBe(201);
    expect((await api.post("/v1/keys", { name: `cursor-${i}`, role: "viewer" })).status).toBe(201);
  }
  await nexus.ingestFailures();
});

const withCursor = (listing: string, cursor: string) =>
  `${listing}${listing.includes("?") ? "&" : "?"}limit=1&cursor=${encodeURIComponent(cursor)}`;

/** A genuine cursor of the listing (its first page of one), decoded. */
async function genuineCursor(listing: string) {
  const first = await local.api.get(`${listing}${listing.includes("?") ? "&" : "?"}limit=1`);
  expect(first.status, listing).toBe(200);
  expect(first.body.nextCursor, `${listing} has a second page`).toEqual(expect.any(String));
  return first.body.nextCursor as string;
}

/** Cursors with the right key names whose values were edited, each with what was done to it. */
function tampered(cursor: string): Array<[string, string]> {
  const { s, k } = decode(cursor);
  const names = Object.keys(k);
  // The index's key attributes (GSI<n>PK/SK, or a task index's TASKS_<…>_PK and TASKS_SK), besides the table's.
  const indexPartition = names.find((name) => name !== "PK" && name.endsWith("PK")) as string;
  const indexSort = names.find((name) => name !== "SK" && name.endsWith("SK")) as string;
  expect(indexPartition).toBeDefined();
  const other = (value: string) => (value === "AGENTS" ? "TASKS" : "AGENTS");
  return [
    ["another partition", encode({ s, k: { ...k, [indexPartition]: other(k[indexPartition] as string) } })],
    [
      "another partition in scope and key",
      encode({ s: `${s}x`, k: { ...k, [indexPartition]: `${k[indexPartition]}x` } }),
    ],
    ["an empty index partition", encode({ s, k: { ...k, [indexPartition]: "" } })],
    ["an empty sort key", encode({ s, k: { ...k, [indexSort]: "" } })],
    ["an empty table key", encode({ s, k: { ...k, PK: "" } })],
    ["a sort key over DynamoDB's 1024 bytes", encode({ s, k: { ...k, [indexSort]: "€".repeat(400) } })],
    ["a number for a key", encode({ s, k: { ...k, SK: 7 } })],
    ["a key list", encode({ s, k: Object.values(k) })],
  ];
}

describe("list cursors", () => {
  it.each(LISTINGS)("%s pages with its own cursors", async (listing) => {
    const next = await local.api.get(withCursor(listing, await genuineCursor(listing)));
    expect(next.status, JSON.stringify(next.body)).toBe(200);
    expect(next.body.items.length).toBe(1);
  });

  it.each(LISTINGS)("%s refuses edited cursors with a 400 naming the cursor", async (listing) => {
    for (const [what, cursor] of tampered(await genuineCursor(listing))) {
      const reply = await local.api.get(withCursor(listing, cursor));
      const label = `${listing}, ${what}: ${reply.status} ${JSON.stringify(reply.body)}`;
      expect(reply.status, label).toBe(400);
      expect(reply.body.error, label).toMatchObject({ code: "validation_error", details: { field: "cursor" } });
    }
  });

  it("refuses one listing's cursor in another listing", async () => {
    const cursors = await Promise.all(LISTINGS.map(genuineCursor));
    for (const [i, listing] of LISTINGS.entries()) {
      for (const [j, cursor] of cursors.entries()) {
        if (i === j) continue;
        const reply = await local.api.get(withCursor(listing, cursor));
        const label = `${LISTINGS[j]}'s cursor on ${listing}: ${reply.status} ${JSON.stringify(reply.body)}`;
        expect(reply.status, label).toBe(400);
        expect((reply.body as Json).error.details, label).toEqual({ field: "cursor" });
      }
    }
  });
});
