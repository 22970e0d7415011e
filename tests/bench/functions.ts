/**
 * Every Lambda function the stack deploys, by handler, with the memory it is configured with: what the heap phase of
 * `npm run bench` (heap.ts) measures each against. The API's, the plan runner's and the schedule function's memory is
 * the cost model's (`FUNCTIONS`, core's cost.ts); each built-in agent's its scaling (packages/agents/src/scaling.ts,
 * with `NEXUS_AGENT_SCALING` as the deploying shell gives it); the rest set none, so they have SST's default.
 * tests/stacks/cost.test.ts checks this list against the synthesized template: every function in it, at its memory.
 */
import { agentScaling, SCALING_VARIABLE } from "@nexus/agents/scaling";
import { builtinSpecs } from "@nexus/agents/specs";
import { FUNCTIONS } from "@nexus/core";

export interface DeployedFunction {
  /** Short name in the bench's output. */
  name: string;
  /** The stack's `handler` (entry file without `.ts`, then `.handler`). */
  handler: string;
  memoryMb: number;
}

/** The functions, in the order the bench measures them. */
export function deployedFunctions(env: NodeJS.ProcessEnv = process.env): DeployedFunction[] {
  const scaling = agentScaling(
    env[SCALING_VARIABLE],
    builtinSpecs.map((spec) => spec.id),
  );
  const agents = ["diag", "comms", "ops", "research", "strategy"].map((id) => ({
    name: id,
    handler: `functions/agents/${id}.handler`,
    memoryMb: scaling[id]?.memorySize ?? Number.NaN,
  }));
  return [
    { name: "api", handler: "functions/api.handler", memoryMb: FUNCTIONS.api.memoryMb },
    ...agents,
    { name: "plans", handler: "functions/plans.handler", memoryMb: FUNCTIONS.planRunner.memoryMb },
    { name: "schedule", handler: "functions/schedule.handler", memoryMb: FUNCTIONS.schedule.memoryMb },
    { name: "sweeper", handler: "functions/sweeper.handler", memoryMb: FUNCTIONS.operations.memoryMb },
    { name: "failures", handler: "functions/failures.handler", memoryMb: FUNCTIONS.operations.memoryMb },
    { name: "probe", handler: "functions/probe.handler", memoryMb: FUNCTIONS.operations.memoryMb },
    { name: "alarm-chat", handler: "functions/alarm-chat.handler", memoryMb: FUNCTIONS.operations.memoryMb },
  ];
}

/** The entry file of a handler, as the bundler takes it. */
export const entryOf = (handler: string) => `${handler.slice(0, handler.lastIndexOf("."))}.ts`;
