import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { NexusError } from "@nexus/core";
import * as Payloads from "@nexus/core/payloads";
import * as Tasks from "@nexus/core/tasks";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_RESULT_BODY_BYTES } from "../../packages/api/src/middleware.js";
import { apiClient, type Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/**
 * Params and results by reference (packages/core/src/payloads.ts): over 32 KB they are kept in the object store (a
 * directory of the local runtime here, S3 in AWS), the task item keeps a small reference, templating and the agents
 * read through it, and the API shows them inline up to 256 KB and as a download link above.
 */
const local = useLocalNexus();

/** Readable filler of exactly `bytes` ASCII bytes. */
const filler = (bytes: number) => "lorem ipsum dolor sit amet ".repeat(Math.ceil(bytes / 27) + 1).slice(0, bytes);
const sha256 = (body: Uint8Array | string) => createHash("sha256").update(body).digest("hex");

beforeAll(async () => {
  const agent = await local.api.post("/v1/agents", { name: "bulky", actions: [{ name: "make" }] });
  expect(agent.status).toBe(201);
  // An in-process agent (the local stand-in for its Lambda consumer) that returns a text of the size asked.
  await local.nexus.attachWorker("bulky", {
    make: async (params) => {
      const { bytes } = params as { bytes: number };
      return { bytes, text: filler(bytes) };
    },
  });
});

async function make(bytes: number): Promise<Json> {
  const submitted = await local.api.post("/v1/tasks", { agentId: "bulky", action: "make", params: { bytes } });
  expect(submitted.status).toBe(202);
  return local.api.waitForTask(submitted.body.id, undefined, 60_000);
}

/** GET of a download link with the admin key: the status, the body's bytes and the headers. */
async function download(href: string) {
  const response = await fetch(`${local.nexus.url}${href}`, {
    headers: { authorization: `Bearer ${local.nexus.adminKey}` },
    redirect: "manual",
  });
  return { status: response.status, headers: response.headers, body: new Uint8Array(await response.arrayBuffer()) };
}

describe("results by reference", () => {
  it("a result under 32 KB stays on the task item, as before", async () => {
    const task = await make(1_000);
    expect(task.status).toBe("succeeded");
    expect(task.result.text).toHaveLength(1_000);
    expect(task.resultRef).toBeUndefined();
    const record = await Tasks.find(local.nexus.ctx, task.id);
    expect(record?.resultRef).toBeUndefined();
  });

  it("over 32 KB: kept in the object store; the item holds a small reference; GET shows it inline with its link", async () => {
    const task = await make(100_000);
    expect(task.status).toBe("succeeded");

    const got = await local.api.get(`/v1/tasks/${task.id}`);
    expect(got.body.result.text).toBe(filler(100_000));
    const expectedJson = JSON.stringify({ bytes: 100_000, text: filler(100_000) });
    expect(got.body.resultRef).toEqual({
      bytes: Buffer.byteLength(expectedJson),
      sha256: sha256(expectedJson),
      contentType: "application/json",
      href: `/v1/tasks/${task.id}/result`,
    });

    // The item: a reference of key, size, hash and type, no result text.
    const record = await Tasks.find(local.nexus.ctx, task.id);
    expect(record?.result).toBeUndefined();
    expect(record?.resultRef).toEqual({
      key: `tasks/${task.id}/result-1-${sha256(expectedJson)}.json`,
      bytes: Buffer.byteLength(expectedJson),
      sha256: sha256(expectedJson),
      contentType: "application/json",
    });
    expect(JSON.stringify(record).length).toBeLessThan(4_000);

    // The link: the JSON itself locally (S3 would redirect to a presigned URL), its hash as the ETag.
    const file = await download(got.body.resultRef.href);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toContain("application/json");
    expect(file.headers.get("etag")).toBe(`"${sha256(expectedJson)}"`);
    expect(Buffer.from(file.body).toString("utf8")).toBe(expectedJson);

    // Listings never load payloads: the reference only.
    const listed = await local.api.get("/v1/tasks?agentId=bulky&limit=100");
    const item = listed.body.items.find((t: Json) => t.id === task.id);
    expect(item.resultRef.href).toBe(`/v1/tasks/${task.id}/result`);
    expect(item).not.toHaveProperty("result");
  });

  it("over 256 KB: GET gives only the download link", async () => {
    const task = await make(400_000);
    expect(task.status).toBe("succeeded");
    expect(task).not.toHaveProperty("result");
    expect(task.resultRef.bytes).toBeGreaterThan(Payloads.SHOWN_INLINE_BYTES);
    const file = await download(task.resultRef.href);
    expect(file.status).toBe(200);
    expect(sha256(file.body)).toBe(task.resultRef.sha256);
    expect(JSON.parse(Buffer.from(file.body).toString("utf8")).text).toBe(filler(400_000));
  });

  it("a 10 MB result works end to end; one byte over the limit fails the task", async () => {
    const overhead = JSON.stringify({ bytes: 10_000_000, text: "" }).length;
    const bytes = Payloads.MAX_PAYLOAD_BYTES - overhead;
    const task = await make(bytes);
    expect(task.status, JSON.stringify(task.error)).toBe("succeeded");
    expect(task.resultRef.bytes).toBe(Payloads.MAX_PAYLOAD_BYTES);
    const file = await download(task.resultRef.href);
    expect(file.body.byteLength).toBe(Payloads.MAX_PAYLOAD_BYTES);
    expect(sha256(file.body)).toBe(task.resultRef.sha256);

    const over = await make(bytes + 1);
    expect(over.status).toBe("failed");
    expect(over.error).toMatchObject({ code: "result_too_large", retriable: false });
  });

  it("a task without a result yet has no result to download (404)", async () => {
    // An agent nothing consumes: its task stays queued.
    expect((await local.api.post("/v1/agents", { name: "idle", actions: [{ name: "wait" }] })).status).toBe(201);
    const queued = await local.api.post("/v1/tasks", { agentId: "idle", action: "wait" });
    expect(queued.status).toBe(202);
    const reply = await local.api.get(`/v1/tasks/${queued.body.id}/result`);
    expect(reply.status).toBe(404);
    expect((await local.api.get("/v1/tasks/tsk_nope/result")).status).toBe(404);
  });
});

describe("params by reference, and a remote worker's large result", () => {
  it("params over 32 KB (up to the body limit) are kept by reference and reach the agent whole", async () => {
    const params = { text: filler(200_000) };
    const submitted = await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params });
    expect(submitted.status, JSON.stringify(submitted.body.error)).toBe(202);
    expect(submitted.body.paramsRef.href).toBe(`/v1/tasks/${submitted.body.id}/params`);
    const done = await local.api.waitForTask(submitted.body.id);
    expect(done.status).toBe("succeeded");
    expect(done.params).toEqual(params);
    expect(done.result).toEqual(params);
    const record = await Tasks.find(local.nexus.ctx, submitted.body.id);
    expect(record?.params).toBeNull();
    expect(JSON.stringify(record).length).toBeLessThan(4_000);
    const file = await download(submitted.body.paramsRef.href);
    expect(JSON.parse(Buffer.from(file.body).toString("utf8"))).toEqual(params);
  });

  it("a remote worker claims params by reference and completes with up to 5 MB; a larger body is a 413", async () => {
    expect((await local.api.post("/v1/agents", { name: "far", actions: [{ name: "work" }] })).status).toBe(201);
    const key = await local.api.post("/v1/keys", { name: "far-worker", role: "agent", agentId: "far" });
    const worker = apiClient(local.nexus.url, key.body.key);
    const params = { text: filler(100_000) };
    const submitted = await local.api.post("/v1/tasks", { agentId: "far", action: "work", params });
    expect(submitted.status).toBe(202);
    const claimed = await worker.post("/v1/agents/far/tasks/claim", { waitSeconds: 5 });
    expect(claimed.body.tasks).toHaveLength(1);
    const [task] = claimed.body.tasks;
    expect(task.params).toEqual(params);

    const tooBig = await worker.post(`/v1/tasks/${task.id}/complete`, {
      leaseToken: task.leaseToken,
      result: { text: filler(MAX_RESULT_BODY_BYTES) },
    });
    expect(tooBig.status).toBe(413);
    const result = { text: filler(MAX_RESULT_BODY_BYTES - 1_000) };
    const completed = await worker.post(`/v1/tasks/${task.id}/complete`, { leaseToken: task.leaseToken, result });
    expect(completed.status, JSON.stringify(completed.body.error)).toBe(200);
    expect(completed.body.status).toBe("succeeded");
    expect(completed.body.resultRef.bytes).toBe(Buffer.byteLength(JSON.stringify(result)));
    const file = await download(completed.body.resultRef.href);
    expect(sha256(file.body)).toBe(completed.body.resultRef.sha256);
  });
});

describe("templating through a reference", () => {
  it("a step's {{steps.x.result.path}} reads a result kept in the object store", async () => {
    const created = await local.api.post("/v1/plans", {
      steps: [
        { id: "make", agentId: "bulky", action: "make", params: { bytes: 200_000 } },
        {
          id: "echo",
          agentId: "diag",
          action: "echo",
          params: { size: "{{steps.make.result.bytes}}", text: "{{steps.make.result.text}}" },
          dependsOn: ["make"],
        },
      ],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const plan = await local.api.waitForPlan(created.body.id, undefined, 60_000);
    expect(plan.status, JSON.stringify(plan.error)).toBe("succeeded");
    const [made, echoed] = plan.steps;
    // The plan view links results kept in the object store instead of loading them.
    expect(made).not.toHaveProperty("result");
    expect(made.resultRef.href).toBe(`/v1/tasks/${made.taskId}/result`);
    const echo = await local.api.get(`/v1/tasks/${echoed.taskId}`);
    expect(echo.body.result).toEqual({ size: 200_000, text: filler(200_000) });
    // The resolved params were over 32 KB too: the echo task got them by reference.
    expect(echo.body.paramsRef.href).toBe(`/v1/tasks/${echoed.taskId}/params`);
    expect(echo.body.params).toEqual({ size: 200_000, text: filler(200_000) });
  });
});

describe("references are safe to show and to write twice", () => {
  it("never leak the store's directory, an object key or a secret", async () => {
    const task = await make(300_000);
    const shown = [
      await local.api.get(`/v1/tasks/${task.id}`),
      await local.api.get("/v1/tasks?agentId=bulky&limit=100"),
      await local.api.get("/v1/plans?limit=100"),
    ].map((reply) => JSON.stringify(reply.body));
    const record = await Tasks.find(local.nexus.ctx, task.id);
    const key = record?.resultRef?.key ?? "";
    expect(key).not.toBe("");
    for (const text of shown) {
      expect(text).not.toContain(tmpdir());
      expect(text).not.toContain("nexus-payloads-");
      expect(text).not.toContain(key);
      expect(text).not.toContain(local.nexus.adminKey);
    }
    const file = await download(task.resultRef.href);
    expect(file.headers.get("location")).toBeNull();
    expect([...file.headers.values()].join(" ")).not.toContain(tmpdir());
  });

  it("the same payload written twice is the same object; an altered one is refused, not served", async () => {
    const { ctx } = local.nexus;
    const value = { text: filler(50_000) };
    const where = { taskId: "tsk_twice", kind: "result" as const, attempt: 2 };
    const first = await Payloads.keep(ctx, where, value);
    const second = await Payloads.keep(ctx, where, value);
    expect(second).toEqual(first);
    expect(first.ref?.key).toBe(`tasks/tsk_twice/result-2-${sha256(JSON.stringify(value))}.json`);
    expect(await Payloads.resultOf(ctx, { id: "tsk_twice", params: null, resultRef: first.ref })).toEqual(value);

    // Another writer's bytes under that key: the hash check refuses them.
    await ctx.payloads?.put(
      first.ref?.key ?? "",
      Buffer.from(JSON.stringify({ text: "tampered" })),
      "application/json",
    );
    const read = Payloads.resultOf(ctx, { id: "tsk_twice", params: null, resultRef: first.ref });
    await expect(read).rejects.toBeInstanceOf(NexusError);
    await expect(read).rejects.toMatchObject({ code: "payload_corrupt" });
  });
});
