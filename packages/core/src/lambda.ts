/**
 * What every Lambda function is made of (imported as `@nexus/core/lambda`, by the entry points in functions/ only: the
 * local runtime never loads it): its context from the stack's environment, its logger, its metrics written as EMF per
 * invocation, and X-Ray tracing (xray.ts) of the invocation, of the AWS SDK calls of every client it makes, of its
 * outgoing HTTP requests, and of each task it runs.
 */
import type { Context as LambdaContext, SQSEvent } from "aws-lambda";
import { type Context, contextFromEnv } from "./context.js";
import { onClientMade } from "./lazy.js";
import { createLogger, type Logger } from "./log.js";
import { flushMetrics, metricsNamespace, useMetricsSink } from "./metrics.js";
import { emfSink } from "./metrics-emf.js";
import { capturing } from "./task-logs.js";
import { useSpans } from "./trace.js";
import { type AgentImplementation, createConsumer } from "./worker.js";
import { captureClient, captureHttp, traceInvocation, traceSpan, tracingEnabled } from "./xray.js";

/** What Lambda passes, where a test calls a handler without it: no time limit of Lambda's. */
const NO_CONTEXT = { getRemainingTimeInMillis: () => 900_000 } as LambdaContext;

/** The function's telemetry, set up once per process (one function per process). */
let telemetry: { serviceName: string; traced: boolean } | undefined;

function setUp(serviceName: string) {
  if (telemetry) return telemetry;
  // Metrics: EMF in namespace Nexus/<stage>, from NEXUS_STAGE, which every function has (no variable of its own).
  useMetricsSink(emfSink({ namespace: metricsNamespace(process.env.NEXUS_STAGE || "local") }));
  // Traces: off outside Lambda, so locally all of this is a no-op.
  telemetry = { serviceName, traced: tracingEnabled() };
  if (telemetry.traced) {
    onClientMade(captureClient);
    useSpans(traceSpan);
    if ((process.env.POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS ?? "").toLowerCase() !== "false") captureHttp();
  }
  return telemetry;
}

/** The logger of a Lambda function (JSON on stdout, see log.ts), with its metrics and traces set up. */
export function lambdaLogger(serviceName: string): Logger {
  setUp(serviceName);
  return createLogger(serviceName);
}

/** A function's context from the stack's environment, its table's and queues' clients traced. */
export function lambdaContext(): Context {
  const ctx = contextFromEnv();
  if (telemetry?.traced) {
    captureClient(ctx.ddb);
    captureClient(ctx.sqs);
  }
  return ctx;
}

let coldStart = true;

/**
 * A Lambda handler with its telemetry: the invocation's context on the logger's records (request id, cold start,
 * function), a `## handler` subsegment (cold start and service annotated, errors recorded; responses are not, they
 * may hold results), and the invocation's metrics written as EMF when it ends, however it ends.
 */
export function instrumented<E, R>(logger: Logger, handler: (event: E, context: LambdaContext) => Promise<R>) {
  return async (event: E, context?: LambdaContext): Promise<R> => {
    if (context) logger.addContext(context);
    const run = () => handler(event, context ?? NO_CONTEXT);
    try {
      if (!telemetry?.traced) return await run();
      const annotations = { ColdStart: coldStart, Service: telemetry.serviceName };
      coldStart = false;
      return await traceInvocation(`## ${process.env._HANDLER ?? "handler"}`, annotations, run);
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
  // What the handlers log while a task runs is also kept with its attempt (task-logs.ts).
  const logger = capturing(lambdaLogger(`nexus-agent-${agentId}`));
  const ctx = lambdaContext();
  const queue = ctx.builtinQueues[agentId];
  if (!queue) throw new Error(`no queue is configured for built-in agent '${agentId}' (NEXUS_BUILTIN_QUEUES)`);
  const consumer = createConsumer({
    ctx,
    agentId,
    queue,
    handlers: agent.handlers({ ctx, config: process.env, logger }),
    logger,
  });
  return instrumented(logger, (event: SQSEvent, context: LambdaContext) => consumer(event, context));
}
