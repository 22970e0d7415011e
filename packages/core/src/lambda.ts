import type { Context as LambdaContext, SQSEvent } from "aws-lambda";
import { contextFromEnv } from "./context.js";
import { createLogger, type Logger } from "./log.js";
import { flushMetrics, metricsNamespace, useMetricsSink } from "./metrics.js";
import { emfSink } from "./metrics-emf.js";
import * as Runner from "./plans/runner.js";
import { type AgentImplementation, createConsumer } from "./worker.js";

let emfInstalled = false;

/** What a handler called without a Lambda context sees: no time limit of Lambda's. */
const NO_CONTEXT = { getRemainingTimeInMillis: () => 900_000 } as LambdaContext;

/**
 * The logger of a Lambda function (JSON on stdout, see log.ts), and once per process the EMF sink its metrics go to:
 * namespace `Nexus/<stage>` from `NEXUS_STAGE`, which every function's environment has (no variable of its own).
 */
export function lambdaLogger(serviceName: string): Logger {
  if (!emfInstalled) {
    emfInstalled = true;
    useMetricsSink(emfSink({ namespace: metricsNamespace(process.env.NEXUS_STAGE || "local"), serviceName }));
  }
  return createLogger(serviceName);
}

/**
 * A Lambda handler with its telemetry: the invocation's context on the logger's records (request id, cold start,
 * function), the invocation's metrics written as EMF when it ends, however it ends.
 */
export function instrumented<E, R>(logger: Logger, handler: (event: E, context: LambdaContext) => Promise<R>) {
  // Lambda always passes its context; a test calling the handler directly may not.
  return async (event: E, context?: LambdaContext): Promise<R> => {
    if (context) logger.addContext(context);
    try {
      return await handler(event, context ?? NO_CONTEXT);
    } finally {
      flushMetrics();
    }
  };
}

/**
 * The Lambda handler of a built-in agent: its queue from the stack's environment, its handlers built once
 * per cold start, partial batch failures reported.
 */
export function agentLambda(agent: AgentImplementation) {
  const agentId = agent.spec.id;
  const ctx = contextFromEnv();
  const queue = ctx.builtinQueues[agentId];
  if (!queue) throw new Error(`no queue is configured for built-in agent '${agentId}' (NEXUS_BUILTIN_QUEUES)`);
  const logger = lambdaLogger(`nexus-agent-${agentId}`);
  const consumer = createConsumer({
    ctx,
    agentId,
    queue,
    handlers: agent.handlers({ ctx, config: process.env, logger }),
    logger,
  });
  return instrumented(logger, (event: SQSEvent, context: LambdaContext) => consumer(event, context));
}

/** The Lambda handler of the plan state machine's tasks: one payload `{op, planId, run, …}` per invocation. */
export function planRunnerLambda() {
  const ctx = contextFromEnv();
  const logger = lambdaLogger("nexus-plans");
  return instrumented(logger, (payload: Record<string, unknown>) => Runner.handle(ctx, payload, logger));
}
