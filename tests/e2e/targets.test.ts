import { checkTarget, MAX_PARAMS_BYTES } from "@nexus/core";
import { describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/**
 * One rule for "can a task be submitted to this agent, action and params?": a task, a plan step and a schedule's
 * target refuse the same mistake with the same code (in the error's details), each at its own path.
 */
const local = useLocalNexus();
let n = 0;

function deep(levels: number): Json {
  let value: Json = {};
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

/** The issue codes an error reply carries, wherever it keeps them. */
function codes(body: Json): string[] {
  const details = body.error?.details;
  const list = Array.isArray(details) ? details : [details];
  return list.flatMap((d: Json) => (d && typeof d.code === "string" ? [d.code] : []));
}

async function refusals(target: Json) {
  const task = await local.api.post("/v1/tasks", target);
  const plan = await local.api.post("/v1/plans", { steps: [{ id: "only", ...target }] });
  const schedule = await local.api.post("/v1/schedules", {
    name: `target-${++n}`,
    rate: "rate(1 hour)",
    target: { type: "task", ...target },
  });
  return { task, plan, schedule };
}

describe("a target's mistakes have one code wherever the target is given", () => {
  let inactive = "";

  it.each([
    ["unknown_agent", () => ({ agentId: "no-such-agent", action: "echo", params: {} }), 404, "agentId"],
    ["unknown_action", () => ({ agentId: "diag", action: "no_such_action", params: {} }), 400, "action"],
    ["invalid_params", () => ({ agentId: "diag", action: "sleep", params: { ms: "soon" } }), 400, "params.ms"],
    ["params_too_deep", () => ({ agentId: "diag", action: "echo", params: deep(30) }), 400, "params"],
    ["agent_inactive", () => ({ agentId: inactive, action: "work", params: {} }), 409, "agentId"],
  ] as const)("%s", async (code, target, taskStatus, path) => {
    if (!inactive) {
      inactive = `idle-${Date.now().toString(36)}`;
      expect((await local.api.post("/v1/agents", { name: inactive, actions: [{ name: "work" }] })).status).toBe(201);
      expect((await local.api.post(`/v1/agents/${inactive}/deactivate`)).status).toBe(200);
    }
    const { task, plan, schedule } = await refusals(target());

    expect(task.status, JSON.stringify(task.body)).toBe(taskStatus);
    expect(codes(task.body)).toContain(code);
    expect(plan.status, JSON.stringify(plan.body)).toBe(400);
    expect(plan.body.error.details).toContainEqual(expect.objectContaining({ code, path: `steps.0.${path}` }));
    expect(schedule.status, JSON.stringify(schedule.body)).toBe(400);
    expect(schedule.body.error.details).toContainEqual(expect.objectContaining({ code, path: `target.${path}` }));
  });

  it("params_too_large: the same rule refuses params past the payload limit, before looking for the agent", async () => {
    const huge = { text: "x".repeat(MAX_PARAMS_BYTES + 1) };
    const checked = await checkTarget(local.nexus.ctx, { agentId: "no-such-agent", action: "echo", params: huge });
    expect(checked).toMatchObject({ ok: false, issues: [{ code: "params_too_large", path: "params" }] });
  });
});
