import { describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

const local = useLocalNexus({ agents: [] });

const echo = (id: string, extra: Json = {}) => ({ id, agentId: "diag", action: "echo", params: {}, ...extra });

async function refused(body: unknown) {
  const reply = await local.api.post("/v1/plans", body);
  expect(reply.status).toBe(400);
  expect(reply.body.error.code).toBe("validation_error");
  return reply.body.error;
}

const paths = (error: Json) => error.details.map((d: Json) => `${d.path}: ${d.message}`).join("\n");

describe("plans are validated before anything runs", () => {
  it("registers diag for these tests", async () => {
    // `agents: []` runs no built-in consumer; register diag's spec through the API's own bootstrap.
    const reply = await local.api.post("/v1/agents", { name: "worker", actions: [{ name: "echo" }] });
    expect(reply.status).toBe(201);
  });

  it("names duplicate step ids", async () => {
    const error = await refused({ steps: [echo("a"), echo("a")] });
    expect(paths(error)).toContain("steps.1.id: duplicate step id 'a' (also steps.0)");
  });

  it("names the cycle", async () => {
    const error = await refused({
      steps: [echo("a", { dependsOn: ["c"] }), echo("b", { dependsOn: ["a"] }), echo("c", { dependsOn: ["b"] })],
    });
    expect(paths(error)).toMatch(/dependency cycle: (a → c → b → a|b → a → c → b|c → b → a → c)/);
  });

  it("names unknown dependencies, agents and actions", async () => {
    const error = await refused({
      steps: [
        echo("a", { dependsOn: ["ghost"] }),
        { id: "b", agentId: "nobody", action: "echo" },
        { id: "c", agentId: "worker", action: "fly" },
      ],
    });
    const text = paths(error);
    expect(text).toContain("steps.0.dependsOn.0: unknown step 'ghost'");
    expect(text).toContain("steps.1.agentId: unknown agent 'nobody'");
    expect(text).toContain("steps.2.action: agent 'worker' has no action 'fly' (it has: echo)");
  });

  it("checks params against the action's schema, except where a reference decides the value", async () => {
    await local.api.post("/v1/agents", {
      name: "typed",
      actions: [
        {
          name: "send",
          params: {
            type: "object",
            properties: { to: { type: "array", items: { type: "string" } }, count: { type: "integer" } },
            required: ["to"],
            additionalProperties: false,
          },
        },
      ],
    });
    const error = await refused({
      steps: [{ id: "s", agentId: "typed", action: "send", params: { count: "many", extra: 1 } }],
    });
    const text = paths(error);
    expect(text).toContain("steps.0.params");
    expect(text).toMatch(/count/);
    const ok = await local.api.post("/v1/plans", {
      dryRun: true,
      steps: [
        { id: "first", agentId: "worker", action: "echo", params: {} },
        {
          id: "s",
          agentId: "typed",
          action: "send",
          params: { to: "{{steps.first.result.addresses}}", count: "{{steps.first.result.n}}" },
          dependsOn: ["first"],
        },
      ],
    });
    expect(ok.status).toBe(200);
  });

  it("refuses references to steps that are not ancestors, or that have no result", async () => {
    const error = await refused({
      steps: [
        echo("a"),
        echo("b", { params: { x: "{{steps.a.result.x}}" } }),
        { id: "gate", kind: "approval", message: "ok?" },
        echo("c", { params: { y: "{{steps.gate.result}}", z: "{{steps.zz.result}}" }, dependsOn: ["gate"] }),
        echo("d", { params: { w: "{{ step.a.result }}" }, dependsOn: ["a"] }),
      ],
    });
    const text = paths(error);
    expect(text).toContain(
      "steps.1.params.x: references step 'a', which is not an ancestor of 'b' (add it to dependsOn)",
    );
    expect(text).toContain("steps.3.params.y: references step 'gate', a approval step with no result");
    expect(text).toContain("steps.3.params.z: references unknown step 'zz'");
    expect(text).toContain("steps.4.params.w: has a {{…}} that is not a reference");
  });

  it("refuses more steps than the documented maximum, and malformed steps", async () => {
    const many = Array.from({ length: 41 }, (_, i) => echo(`s${i}`));
    const error = await refused({ steps: many });
    expect(paths(error)).toContain("a plan has at most 40 steps");
    const shapes = await refused({
      steps: [
        { id: "w", kind: "wait" },
        { id: "x", kind: "teleport" },
      ],
    });
    expect(paths(shapes)).toMatch(/steps\.0\.seconds/);
    expect(paths(shapes)).toMatch(/steps\.1\.kind/);
    const empty = await refused({ name: "nothing" });
    expect(paths(empty)).toContain("give steps, or a goal");
  });

  it("refuses inactive agents", async () => {
    await local.api.post("/v1/agents", { name: "sleepy", actions: [{ name: "echo" }] });
    await local.api.post("/v1/agents/sleepy/deactivate");
    const error = await refused({ steps: [{ id: "a", agentId: "sleepy", action: "echo" }] });
    expect(paths(error)).toContain("agent 'sleepy' is inactive");
  });

  it("dryRun returns the validated plan, in dependency order with derived timeouts, and stores nothing", async () => {
    const before = await local.api.get("/v1/plans");
    const reply = await local.api.post("/v1/plans", {
      dryRun: true,
      steps: [echo("b", { agentId: "worker", dependsOn: ["a"] }), echo("a", { agentId: "worker" })],
    });
    expect(reply.status).toBe(200);
    expect(reply.body.dryRun).toBe(true);
    expect(reply.body.steps.map((s: Json) => s.id)).toEqual(["a", "b"]);
    // worker.echo: 3 attempts × (60 s + 300 s backoff cap) + 300 s slack
    expect(reply.body.steps[0]).toMatchObject({ status: "pending", timeoutSeconds: 1380 });
    const after = await local.api.get("/v1/plans");
    expect(after.body.items.length).toBe(before.body.items.length);
  });

  it("lists plans newest first, by status, paged; unknown plans are 404", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = await local.api.post("/v1/plans", {
        name: `p${i}`,
        steps: [{ id: "gate", kind: "approval", message: "?" }],
      });
      expect(reply.status).toBe(201);
      ids.push(reply.body.id);
    }
    const page1 = await local.api.get("/v1/plans?limit=2");
    expect(page1.body.items.map((p: Json) => p.id)).toEqual([ids[2], ids[1]]);
    expect(page1.body.items[0].steps).toBeUndefined();
    const page2 = await local.api.get(`/v1/plans?limit=2&cursor=${encodeURIComponent(page1.body.nextCursor)}`);
    expect(page2.body.items[0].id).toBe(ids[0]);
    await local.api.waitForPlan(ids[0] ?? "", ["waiting_approval"]);
    const waiting = await local.api.get("/v1/plans?status=waiting_approval");
    expect(waiting.body.items.map((p: Json) => p.id)).toContain(ids[0]);
    for (const id of ids) await local.api.post(`/v1/plans/${id}/cancel`);
    expect((await local.api.get("/v1/plans/pln_nope")).status).toBe(404);
    expect((await local.api.post("/v1/plans/pln_nope/cancel")).status).toBe(404);
    expect((await local.api.get("/v1/plans?status=bogus")).status).toBe(400);
  });

  it("refuses constraints without a goal, and a goal when no planner can plan it", async () => {
    const reply = await local.api.post("/v1/plans", { steps: [echo("a", { agentId: "worker" })], constraints: {} });
    expect(reply.status).toBe(400);
  });
});
