import { research } from "@nexus/agents/research";
import { agentLambda } from "@nexus/core/lambda";

/** The `research` agent: consumes its own queue (one entry per agent keeps each bundle to its own code). */
export const handler = agentLambda(research);
