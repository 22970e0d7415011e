import { describe, expect, it } from "vitest";
import {
  addUsage,
  MODEL,
  noUsage,
  planUsage,
  priceOf,
  scaleUsage,
  type TaskFacts,
  taskCost,
  taskUsage,
} from "./cost.js";
import { PRICES } from "./prices.js";

const simple = (overrides: Partial<TaskFacts> = {}): TaskFacts => ({
  agentId: "diag",
  attempts: 1,
  status: "succeeded",
  planId: null,
  idempotencyKey: null,
  events: [{ type: "queued" }, { type: "started" }, { type: "succeeded" }],
  itemBytes: 700,
  remote: false,
  ...overrides,
});

describe("prices", () => {
  it("turn a million of each unit into the published price", () => {
    const million = priceOf({
      ...noUsage(),
      apiRequests: 1e6,
      lambdaRequests: 1e6,
      gbSeconds: { arm64: 1e6, x86_64: 1e6 },
      writeUnits: 1e6,
      readUnits: 1e6,
      sqsRequests: 1e6,
      transitions: 1e6,
      logBytes: 1024 ** 3,
      s3Puts: 1e6,
      s3Gets: 1e6,
      traces: 1e6,
    });
    expect(million.items.apiGateway).toBeCloseTo(1.0, 9);
    expect(million.items.lambdaRequests).toBeCloseTo(0.2, 9);
    expect(million.items.lambdaDuration).toBeCloseTo(13.3334 + 16.6667, 6);
    expect(million.items.dynamodbWrites).toBeCloseTo(0.625, 9);
    expect(million.items.dynamodbReads).toBeCloseTo(0.125, 9);
    expect(million.items.sqs).toBeCloseTo(0.4, 9);
    expect(million.items.stepFunctions).toBeCloseTo(25, 9);
    expect(million.items.logs).toBeCloseTo(0.5, 9);
    expect(million.items.s3).toBeCloseTo(5 + 0.4, 9);
    expect(million.items.xray).toBeCloseTo(5, 9);
    expect(million.usd).toBeCloseTo(
      Object.values(million.items).reduce((a, b) => a + b, 0),
      9,
    );
    expect(million.basis).toContain(PRICES.region);
  });

  it("add and scale usage item by item", () => {
    const a = { ...noUsage(), writeUnits: 2, gbSeconds: { arm64: 1, x86_64: 0 } };
    const b = { ...noUsage(), writeUnits: 3, gbSeconds: { arm64: 0, x86_64: 2 } };
    expect(addUsage(a, b)).toMatchObject({ writeUnits: 5, gbSeconds: { arm64: 1, x86_64: 2 } });
    expect(scaleUsage(b, 10)).toMatchObject({ writeUnits: 30, gbSeconds: { arm64: 0, x86_64: 20 } });
  });
});

describe("a task's cost", () => {
  it("counts a simple task's request, writes, messages and invocations", () => {
    const u = taskUsage(simple());
    expect(u.apiRequests).toBe(1);
    // the API's invocation and the agent's, one task per invocation
    expect(u.lambdaRequests).toBe(2);
    // three task writes of 1 unit, four index entries, the move to succeeded (4), the three events in the change
    // feed, the audit record and rate counter; the quiet attempt that succeeded stores no log item
    expect(u.writeUnits).toBeCloseTo(3 + 4 + 4 + 3 + MODEL.submitExtraWrites, 9);
    // the message; the event source mapping's receive and delete
    expect(u.sqsRequests).toBe(3);
    expect(u.transitions).toBe(0);
    // the API's access log line and its `task submitted` line, the agent's `task succeeded` line
    expect(u.logBytes).toBe(MODEL.accessLogBytes + MODEL.submitLineBytes + MODEL.successLineBytes);
    // 40 ms at 512 MB and 20 ms at 512 MB, arm64
    expect(u.gbSeconds.arm64).toBeCloseTo(0.5 * 0.04 + 0.5 * 0.02, 9);
    expect(u.gbSeconds.x86_64).toBe(0);
  });

  it("grows with retries and failure, and with the item's size", () => {
    const once = taskCost(simple()).usd;
    const retried = simple({
      attempts: 2,
      events: [
        { type: "queued" },
        { type: "started" },
        { type: "attempt_failed" },
        { type: "started" },
        { type: "succeeded" },
      ],
    });
    // two more writes of the item and two more events; a running task is indexed as queued, so no index entry
    // moves; the failed attempt's log item
    expect(taskUsage(retried).writeUnits - taskUsage(simple()).writeUnits).toBeCloseTo(2 + 2 + 1, 9);
    expect(taskCost(retried).usd).toBeGreaterThan(once);
    const failed = simple({
      status: "failed",
      events: [{ type: "queued" }, { type: "started" }, { type: "attempt_failed" }, { type: "failed" }],
    });
    // the failed attempt and the failure are one write of the item, two events; its attempt's log item; the dead
    // letter is one more message
    expect(taskUsage(failed).writeUnits - taskUsage(simple()).writeUnits).toBeCloseTo(1 + 1, 9);
    expect(taskUsage(failed).sqsRequests).toBe(4);
    expect(taskUsage(simple({ itemBytes: 1500 })).writeUnits - taskUsage(simple()).writeUnits).toBeCloseTo(3, 9);
  });

  it("leaves out the entry of a plan's task (counted with the plan) and prices a schedule's without API Gateway", () => {
    expect(taskUsage(simple({ planId: "pln_1" })).apiRequests).toBe(0);
    expect(taskUsage(simple({ planId: "pln_1" })).lambdaRequests).toBe(1);
    const scheduled = taskUsage(simple({ idempotencyKey: "schedule:sch_1:2026-01-01T00:00" }));
    expect(scheduled.apiRequests).toBe(0);
    expect(scheduled.lambdaRequests).toBe(2);
  });

  it("shares a batch submission's request, audit record and messages among its tasks", () => {
    const one = taskUsage(simple());
    const batched = taskUsage(simple({ submittedWith: 50 }));
    expect(batched.apiRequests).toBeCloseTo(1 / 50, 9);
    // the API's invocation shared by 50, the agent's not
    expect(batched.lambdaRequests).toBeCloseTo(1 / 50 + 1, 9);
    expect(one.writeUnits - batched.writeUnits).toBeCloseTo(MODEL.submitExtraWrites * (1 - 1 / 50), 9);
    // its message sent 10 a request; the event source mapping's receive and delete as before
    expect(batched.sqsRequests).toBeCloseTo(1 / 10 + 2, 9);
    // one access line and one `tasks submitted` line for the request, its id in that line
    expect(batched.logBytes).toBeCloseTo(
      (MODEL.accessLogBytes + MODEL.submitLineBytes) / 50 + MODEL.submitLineIdBytes + MODEL.successLineBytes,
      9,
    );
    expect(taskCost(simple({ submittedWith: 50 })).usd).toBeLessThan(taskCost(simple()).usd);
  });

  it("prices a remote worker's attempt as its claim and completion through the API", () => {
    const remote = taskUsage(simple({ agentId: "custom", remote: true }));
    expect(remote.apiRequests).toBe(3);
    expect(remote.lambdaRequests).toBe(3);
  });

  it("runs a research attempt at its function's 2 GB on x86", () => {
    expect(taskUsage(simple({ agentId: "research" })).gbSeconds.x86_64).toBeCloseTo(2 * 0.02, 9);
  });

  it("counts object storage for payloads kept by reference", () => {
    const u = taskUsage(simple({ paramsRef: {}, resultRef: {} }));
    expect(u.s3Puts).toBe(2);
    expect(u.s3Gets).toBe(1);
  });
});

describe("a plan's cost", () => {
  it("adds each started step's transitions, runner invocations, writes and history", () => {
    const none = planUsage({ createdBy: "key_1", startedSteps: 0 });
    const ten = planUsage({ createdBy: "key_1", startedSteps: 10 });
    expect(none.apiRequests).toBe(1);
    expect(ten.transitions).toBeCloseTo(10 * MODEL.planStepTransitions, 9);
    expect(ten.lambdaRequests - none.lambdaRequests).toBeCloseTo(10 * MODEL.planStepInvocations, 9);
    expect(priceOf(ten).items.stepFunctions).toBeCloseTo(10 * MODEL.planStepTransitions * 0.000025, 12);
    expect(planUsage({ createdBy: "schedule:sch_1", startedSteps: 1 }).apiRequests).toBe(0);
  });
});
