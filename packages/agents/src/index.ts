import type { AgentImplementation } from "@nexus/core";
import { diag } from "./diag/handlers.js";

export { builtinSpecs } from "./specs.js";

/** The built-in agents, by id. */
export const builtinAgents: Record<string, AgentImplementation> = { diag };
