import { COST_ITEMS, MODEL, PRICES } from "@nexus/core";
import { describe, expect, it } from "vitest";
import { useLocalNexus } from "../support/local.js";

const local = useLocalNexus();

interface Cost {
  usd: number;
  items: Record<string, number>;
  basis: string;
}

/** The items add up to the total, every item is named, none is negative. */
function expectWellFormed(cost: Cost) {
  expect(Object.keys(cost.items).sort()).toEqual([...COST_ITEMS].sort());
  for (const value of Object.values(cost.items)) expect(value).toBeGreaterThanOrEqual(0);
  expect(cost.usd).toBeCloseTo(
    Object.values(cost.items).reduce((a, b) => a + b, 0),
    12,
  );
  expect(cost.basis).toContain("on-demand prices");
}

describe("the estimated cost of a task and a plan, in the API", () => {
  it("shows a simple task's cost: one API request, its writes, its messages, two invocations", async () => {
    const submitted = await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { n: 1 } });
    expect(submitted.status).toBe(202);
    const task = await local.api.waitForTask(submitted.body.id);
    expect(task.status).toBe("succeeded");
    const cost = task.cost as Cost;
    expectWellFormed(cost);
    expect(cost.items.apiGateway).toBeCloseTo(PRICES.apiGatewayHttpRequest, 12);
    expect(cost.items.lambdaRequests).toBeCloseTo(2 * PRICES.lambdaRequest, 12);
    // three writes of a small item, four index entries, the move to succeeded, its three events in the change feed,
    // the audit record and rate counter (a quiet attempt that succeeded stores no log item)
    expect(cost.items.dynamodbWrites).toBeCloseTo(
      (3 + 4 + 4 + 3 + MODEL.submitExtraWrites) * PRICES.dynamodbWriteUnit,
      12,
    );
    expect(cost.items.sqs).toBeCloseTo(3 * PRICES.sqsRequest, 12);
    expect(cost.items.stepFunctions).toBe(0);

    // the listing shows the same estimate
    const listed = await local.api.get(`/v1/tasks?agentId=diag&limit=100`);
    const same = listed.body.items.find((t: { id: string }) => t.id === task.id);
    expect(same?.cost).toEqual(task.cost);
  });

  it("costs more for a task that took three attempts than for one that took one", async () => {
    const once = await local.api.waitForTask(
      (await local.api.post("/v1/tasks", { agentId: "diag", action: "echo", params: {} })).body.id,
    );
    const thrice = await local.api.waitForTask(
      (await local.api.post("/v1/tasks", { agentId: "diag", action: "fail", params: { times: 2 } })).body.id,
    );
    expect(thrice.attempts).toBe(3);
    expect(thrice.cost.usd).toBeGreaterThan(once.cost.usd);
    expect(thrice.cost.items.lambdaRequests).toBeCloseTo(4 * PRICES.lambdaRequest, 12);
  });

  it("shows a plan's cost: its tasks' and its steps' transitions, runner invocations and history", async () => {
    const created = await local.api.post("/v1/plans", {
      name: "cost",
      steps: [
        { id: "a", agentId: "diag", action: "echo", params: { i: 1 } },
        { id: "b", agentId: "diag", action: "echo", params: { i: 2 }, dependsOn: ["a"] },
      ],
    });
    expect(created.status).toBe(201);
    const plan = await local.api.waitForPlan(created.body.id);
    expect(plan.status).toBe("succeeded");
    const cost = plan.cost as Cost;
    expectWellFormed(cost);
    expect(cost.items.stepFunctions).toBeCloseTo(2 * MODEL.planStepTransitions * PRICES.stepFunctionsTransition, 12);
    // the plan's creation is its one API request; its tasks come through the runner
    expect(cost.items.apiGateway).toBeCloseTo(PRICES.apiGatewayHttpRequest, 12);
    let tasks = 0;
    for (const step of plan.steps as Array<{ taskId: string }>) {
      tasks += ((await local.api.get(`/v1/tasks/${step.taskId}`)).body.cost as Cost).usd;
    }
    expect(cost.usd).toBeGreaterThan(tasks);
  });
});
