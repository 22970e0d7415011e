import type { AgentImplementation } from "@nexus/core";
import { diag } from "./diag/handlers.js";
import { ops } from "./ops/handlers.js";
import { research } from "./research/handlers.js";

export { builtinSpecs } from "./specs.js";

/** The built-in agents (their order is the registry's). */
export const builtinAgents: AgentImplementation[] = [diag, ops, research];
