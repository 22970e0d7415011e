/**
 * The cost estimate (packages/core/src/cost.ts) prices each function at the memory and architecture the stack gives
 * it: the API, the plan runner, the schedule function and every built-in agent.
 */
import { describe, expect, it } from "vitest";
import { AGENT_FUNCTIONS, FUNCTIONS, type FunctionSettings } from "../../packages/core/src/cost.js";
import { BUILTIN_AGENTS, builtinScaling } from "../../stacks/agents.js";
import { deployedFunctions } from "../bench/functions.js";
import {
  agentFunction,
  asArray,
  nexusFunctions,
  onlyFunction,
  props,
  SCALING_SETTINGS,
  scalingOf,
  synthesizeApp,
} from "./synth.js";

synthesizeApp();

const settingsOf = (fn: string): FunctionSettings => ({
  memoryMb: Number(props(fn).MemorySize),
  // CloudFormation's default is x86_64
  architecture: (asArray(props(fn).Architectures)[0] ?? "x86_64") as FunctionSettings["architecture"],
});

describe("the cost model's functions", () => {
  it("have the stack's memory and architecture", () => {
    expect(settingsOf(onlyFunction("functions/api.handler"))).toEqual(FUNCTIONS.api);
    expect(settingsOf(onlyFunction("functions/plans.handler"))).toEqual(FUNCTIONS.planRunner);
    expect(settingsOf(onlyFunction("functions/schedule.handler"))).toEqual(FUNCTIONS.schedule);
    // The model prices each agent at its default scaling; the stack here is synthesized with the ops agent's
    // overridden (its memory is then the setting's, not the model's).
    const defaults = builtinScaling({});
    for (const agent of BUILTIN_AGENTS) {
      const model = AGENT_FUNCTIONS[agent.id] ?? FUNCTIONS.agent;
      const deployed = settingsOf(agentFunction(agent.id));
      expect(deployed.architecture, agent.id).toBe(model.architecture);
      expect(model.memoryMb, agent.id).toBe(defaults[agent.id]?.memorySize);
      expect(deployed.memoryMb, agent.id).toBe(scalingOf(agent.id).memorySize);
    }
  });
});

describe("the functions the heap bench measures (tests/bench/functions.ts)", () => {
  it("are every function the stack deploys, each at the memory the stack gives it", () => {
    const deployed = nexusFunctions()
      .map(([id, resource]) => ({
        handler: String(resource.Properties?.Handler),
        memoryMb: Number(props(id).MemorySize),
      }))
      .sort((a, b) => a.handler.localeCompare(b.handler));
    const measured = deployedFunctions(SCALING_SETTINGS)
      .map(({ handler, memoryMb }) => ({ handler, memoryMb }))
      .sort((a, b) => a.handler.localeCompare(b.handler));
    expect(measured).toEqual(deployed);
  });
});
