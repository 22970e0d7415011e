import { describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/** `GET /v1/tasks?planId=`: the tasks of a plan's steps, read through the plan, paged and filtered as the list is. */
const local = useLocalNexus();

describe("tasks filtered by plan", () => {
  it("lists exactly the plan's tasks, newest first, across pages, with the agent and status filters", async () => {
    const plan: Json = (
      await local.api.post("/v1/plans", {
        steps: [
          { id: "a", agentId: "diag", action: "echo", params: { n: 1 } },
          { id: "b", agentId: "diag", action: "echo", params: { n: 2 }, dependsOn: ["a"] },
          { id: "c", agentId: "diag", action: "fail", params: { times: 1, retriable: false }, dependsOn: ["b"] },
        ],
      })
    ).body;
    // Another task that is not the plan's.
    const other: Json = (await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: {} })).body;
    const done: Json = await local.api.waitForPlan(plan.id);
    expect(done.status).toBe("failed");
    const stepTasks = done.steps.map((step: Json) => step.taskId);
    expect(stepTasks).toHaveLength(3);

    const all: Json[] = [];
    let cursor = "";
    let pages = 0;
    do {
      const reply: Json = await local.api.get(`/v1/tasks?planId=${plan.id}&limit=2${cursor}`);
      expect(reply.status).toBe(200);
      all.push(...reply.body.items);
      cursor = reply.body.nextCursor ? `&cursor=${reply.body.nextCursor}` : "";
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(2);
    expect(all.map((t) => t.id)).toEqual([...stepTasks].sort().reverse());
    expect(all.map((t) => t.id)).not.toContain(other.id);
    expect(all.every((t) => t.planId === plan.id)).toBe(true);

    const failed: Json = await local.api.get(`/v1/tasks?planId=${plan.id}&status=failed`);
    expect(failed.body.items.map((t: Json) => t.stepId)).toEqual(["c"]);
    const ofOther: Json = await local.api.get(`/v1/tasks?planId=${plan.id}&agentId=ops`);
    expect(ofOther.body.items).toEqual([]);
  });

  it("answers 404 for an unknown plan and 400 for a cursor of another listing", async () => {
    const missing: Json = await local.api.get("/v1/tasks?planId=pln_nothing_here");
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain("pln_nothing_here");
    const plan: Json = (await local.api.post("/v1/plans", { steps: [{ id: "g", kind: "approval", message: "ok?" }] }))
      .body;
    const page: Json = await local.api.get("/v1/tasks?limit=1");
    expect(page.body.nextCursor).toBeTruthy();
    const crossed: Json = await local.api.get(`/v1/tasks?planId=${plan.id}&cursor=${page.body.nextCursor}`);
    expect(crossed.status).toBe(400);
  });
});
