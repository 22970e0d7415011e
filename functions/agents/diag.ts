import { diag } from "@nexus/agents/diag";
import { agentLambda } from "@nexus/core/lambda";

/** The `diag` agent: consumes its own queue (one entry per agent keeps each bundle to its own code). */
export const handler = agentLambda(diag);
