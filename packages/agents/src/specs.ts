import type { AgentSpec } from "@nexus/core";
import { commsSpec } from "./comms/spec.js";
import { diagSpec } from "./diag/spec.js";
import { opsSpec } from "./ops/spec.js";
import { researchSpec } from "./research/spec.js";
import { strategySpec } from "./strategy/spec.js";

/** Specs of the built-in agents: what the API registers. Light on purpose: no handler code. */
export const builtinSpecs: AgentSpec[] = [diagSpec, commsSpec, opsSpec, researchSpec, strategySpec];
