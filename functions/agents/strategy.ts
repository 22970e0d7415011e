import { strategy } from "@nexus/agents/strategy";
import { agentLambda } from "@nexus/core/lambda";

/** The `strategy` agent: drafts plans for goals and summarizes text (its own queue, its own bundle). */
export const handler = agentLambda(strategy);
