import type { AgentImplementation } from "@nexus/core";
import { comms } from "./comms/handlers.js";
import { diag } from "./diag/handlers.js";
import { ops } from "./ops/handlers.js";
import { research } from "./research/handlers.js";
import { strategy } from "./strategy/handlers.js";

export { builtinSpecs } from "./specs.js";

/** The built-in agents (their order is the registry's). */
export const builtinAgents: AgentImplementation[] = [diag, comms, ops, research, strategy];
