import { comms } from "@nexus/agents/comms";
import { agentLambda } from "@nexus/core/lambda";

/** The `comms` agent: consumes its own queue (one entry per agent keeps each bundle to its own code). */
export const handler = agentLambda(comms);
