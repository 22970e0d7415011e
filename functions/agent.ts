import { Logger } from "@aws-lambda-powertools/logger";
import { builtinAgents } from "@nexus/agents";
import { contextFromEnv, Worker } from "@nexus/core";
import type { Context as LambdaContext, SQSEvent } from "aws-lambda";

const agentId = process.env.NEXUS_AGENT_ID ?? "";
const agent = builtinAgents[agentId];
const ctx = contextFromEnv();
const queue = ctx.builtinQueues[agentId];
if (!agent || !queue) throw new Error(`NEXUS_AGENT_ID '${agentId}' names no built-in agent with a queue`);

const consumer = Worker.createConsumer({
  ctx,
  agentId,
  queue,
  handlers: agent.handlers,
  logger: new Logger({ serviceName: `nexus-agent-${agentId}` }),
});

/** A built-in agent: consumes its own queue, reporting partial batch failures. */
export const handler = (event: SQSEvent, context: LambdaContext) => consumer(event, context);
