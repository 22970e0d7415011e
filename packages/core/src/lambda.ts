import { Logger } from "@aws-lambda-powertools/logger";
import type { Context as LambdaContext, SQSEvent } from "aws-lambda";
import { contextFromEnv } from "./context.js";
import * as Runner from "./plans/runner.js";
import { capturing } from "./task-logs.js";
import { type AgentImplementation, createConsumer } from "./worker.js";

/**
 * The Lambda handler of a built-in agent: its queue from the stack's environment, its handlers built once
 * per cold start, partial batch failures reported.
 */
export function agentLambda(agent: AgentImplementation) {
  const agentId = agent.spec.id;
  const ctx = contextFromEnv();
  const queue = ctx.builtinQueues[agentId];
  if (!queue) throw new Error(`no queue is configured for built-in agent '${agentId}' (NEXUS_BUILTIN_QUEUES)`);
  // What the handlers log while a task runs is also kept with its attempt (task-logs.ts).
  const logger = capturing(new Logger({ serviceName: `nexus-agent-${agentId}` }));
  const consumer = createConsumer({
    ctx,
    agentId,
    queue,
    handlers: agent.handlers({ ctx, config: process.env, logger }),
    logger,
  });
  return (event: SQSEvent, context: LambdaContext) => consumer(event, context);
}

/** The Lambda handler of the plan state machine's tasks: one payload `{op, planId, run, …}` per invocation. */
export function planRunnerLambda() {
  const ctx = contextFromEnv();
  const logger = new Logger({ serviceName: "nexus-plans" });
  return (payload: Record<string, unknown>) => Runner.handle(ctx, payload, logger);
}
