import { ops } from "@nexus/agents/ops";
import { agentLambda } from "@nexus/core/lambda";

/** The `ops` agent: consumes its own queue (one entry per agent keeps each bundle to its own code). */
export const handler = agentLambda(ops);
