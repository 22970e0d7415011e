import { GetQueueUrlCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { useLocalNexus } from "../support/local.js";

const local = useLocalNexus();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("agent lifecycle", () => {
  it("deactivation refuses new tasks and leaves queued ones untouched until reactivation runs them", async () => {
    await local.api.post("/v1/agents", { name: "shifty", actions: [{ name: "work" }] });
    const queued = await Promise.all(
      [1, 2, 3].map((i) => local.api.post("/v1/tasks", { agentId: "shifty", action: "work", params: { i } })),
    );
    const off = await local.api.post("/v1/agents/shifty/deactivate");
    expect(off.status).toBe(200);
    expect(off.body.status).toBe("inactive");
    const refused = await local.api.post("/v1/tasks", { agentId: "shifty", action: "work" });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: "agent_inactive", message: expect.stringContaining("inactive") });

    // its worker comes up while it is inactive: nothing is taken
    await local.nexus.attachWorker("shifty", { work: async (params) => ({ did: params }) });
    await sleep(2500);
    for (const reply of queued) {
      const task = (await local.api.get(`/v1/tasks/${reply.body.id}`)).body;
      expect(task).toMatchObject({ status: "queued", attempts: 0 });
    }

    const on = await local.api.post("/v1/agents/shifty/reactivate");
    expect(on.body.status).toBe("active");
    for (const [i, reply] of queued.entries()) {
      const task = await local.api.waitForTask(reply.body.id);
      expect(task).toMatchObject({ status: "succeeded", attempts: 1, result: { did: { i: i + 1 } } });
    }
    expect((await local.api.post("/v1/tasks", { agentId: "shifty", action: "work" })).status).toBe(202);
  });

  it("pauses a built-in agent's consumer the same way", async () => {
    expect((await local.api.post("/v1/agents/diag/deactivate")).body.status).toBe("inactive");
    expect((await local.api.post("/v1/tasks", { agentId: "diag", action: "echo" })).status).toBe(409);
    expect((await local.api.post("/v1/agents/diag/reactivate")).body.status).toBe("active");
    const task = await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { back: true } });
    expect((await local.api.waitForTask(task.body.id)).result).toEqual({ back: true });
  });

  it("refuses to delete an agent with unfinished tasks unless forced, then removes it and its queues", async () => {
    await local.api.post("/v1/agents", { name: "doomed", actions: [{ name: "work" }] });
    const agent = (await local.api.get("/v1/agents/doomed")).body;
    const pending = await local.api.post("/v1/tasks", { agentId: "doomed", action: "work" });

    const refused = await local.api.delete("/v1/agents/doomed");
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("agent_busy");
    expect((await local.api.get("/v1/agents/doomed")).status).toBe(200);
    expect((await local.api.delete("/v1/agents/doomed?force=maybe")).status).toBe(400);

    const forced = await local.api.delete("/v1/agents/doomed?force=true");
    expect(forced.status).toBe(200);
    expect(forced.body).toEqual({ id: "doomed", deleted: true, cancelledTasks: 1 });
    expect((await local.api.get("/v1/agents/doomed")).status).toBe(404);
    const history = await local.api.get(`/v1/tasks/${pending.body.id}`);
    expect(history.body).toMatchObject({ status: "cancelled", agentId: "doomed" });
    expect(history.body.events.at(-1).message).toContain("deleted");
    for (const url of [agent.queue.url, agent.queue.dlqUrl]) {
      const name = url.split("/").pop();
      await expect(local.nexus.ctx.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).rejects.toThrow();
    }
    expect((await local.api.post("/v1/tasks", { agentId: "doomed", action: "work" })).status).toBe(404);
  });

  it("deletes an idle agent without force, never a built-in one, and 404s an unknown one", async () => {
    await local.api.post("/v1/agents", { name: "idle-one", actions: [{ name: "work" }] });
    expect((await local.api.delete("/v1/agents/idle-one")).body).toEqual({
      id: "idle-one",
      deleted: true,
      cancelledTasks: 0,
    });
    const builtin = await local.api.delete("/v1/agents/diag?force=true");
    expect(builtin.status).toBe(409);
    expect(builtin.body.error.code).toBe("builtin_agent");
    expect((await local.api.delete("/v1/agents/nobody-here")).status).toBe(404);
    expect((await local.api.post("/v1/agents/nobody-here/deactivate")).status).toBe(404);
  });
});
