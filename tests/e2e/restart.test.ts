import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalNexus, startLocal } from "@nexus/local";
import { afterAll, describe, expect, it } from "vitest";
import { apiClient } from "../support/client.js";

const dataDir = mkdtempSync(join(tmpdir(), "nexus-restart-"));
const running: LocalNexus[] = [];

async function start() {
  const nexus = await startLocal({ port: 0, dataDir, logLevel: "SILENT", settings: { rateLimitPerMinute: 1_000_000 } });
  running.push(nexus);
  return { nexus, api: apiClient(nexus.url, nexus.adminKey) };
}

afterAll(async () => {
  for (const nexus of running) await nexus.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("restart mid-flight", () => {
  it("keeps agents and tasks on disk and re-enqueues every unfinished task, so none is lost", async () => {
    const first = await start();
    const agentName = `later-${Date.now().toString(36)}`;
    const agent = await first.api.post("/v1/agents", { name: agentName, actions: [{ name: "work" }] });
    expect(agent.status).toBe(201);
    const done = await first.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { before: true } });
    await first.api.waitForTask(done.body.id);
    // queued on an agent with no worker yet, and running when the process goes away
    const waiting = await Promise.all(
      [1, 2, 3].map((i) => first.api.post("/v1/tasks", { agentId: agentName, action: "work", params: { i } })),
    );
    const inFlight = await first.api.post("/v1/tasks", { agentId: "diag", action: "sleep", params: { ms: 6000 } });
    await first.api.waitForTask(inFlight.body.id, ["running"]);
    await first.nexus.stop();
    running.pop();

    const second = await start();
    const agentAfter = await second.api.get(`/v1/agents/${agentName}`);
    expect(agentAfter.status).toBe(200);
    expect(agentAfter.body.queue.url).toContain(second.nexus.endpoints.sqs);
    const kept = await second.api.get(`/v1/tasks/${done.body.id}`);
    expect(kept.body).toMatchObject({ status: "succeeded", result: { before: true } });

    await second.nexus.attachWorker(agentName, { work: async (params) => ({ worked: params }) });
    for (const [i, reply] of waiting.entries()) {
      const task = await second.api.waitForTask(reply.body.id);
      expect(task.status).toBe("succeeded");
      expect(task.result).toEqual({ worked: { i: i + 1 } });
      expect(task.events.map((e: { type: string }) => e.type)).toContain("requeued");
    }
    const resumed = await second.api.waitForTask(inFlight.body.id, ["succeeded", "failed"], 40_000);
    expect(resumed.status).toBe("succeeded");
    expect(resumed.attempts).toBe(2);
    expect(resumed.events.map((e: { type: string }) => e.type)).toEqual([
      "queued",
      "started",
      "requeued",
      "started",
      "succeeded",
    ]);
  });
});
