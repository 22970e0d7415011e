import { Logger } from "@aws-lambda-powertools/logger";
import { builtinAgents } from "@nexus/agents";
import { contextFromEnv, Worker } from "@nexus/core";
import type { Context as LambdaContext, SQSEvent } from "aws-lambda";

const agentId = process.env.NEXUS_AGENT_ID ?? "";
const agent = builtinAgents.find((a) => a.spec.id === agentId);
const ctx = contextFromEnv();
const queue = ctx.builtinQueues[agentId];
if (!agent || !queue) throw new Error(`NEXUS_AGENT_ID '${agentId}' names no built-in agent with a queue`);

const logger = new Logger({ serviceName: `nexus-agent-${agentId}` });
const consumer = Worker.createConsumer({
  ctx,
  agentId,
  queue,
  handlers: agent.handlers({ ctx, config: process.env, logger }),
  logger,
});

/** A built-in agent: consumes its own queue, reporting partial batch failures. */
export const handler = (event: SQSEvent, context: LambdaContext) => consumer(event, context);
