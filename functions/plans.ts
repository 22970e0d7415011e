import { instrumented, lambdaContext, lambdaLogger } from "@nexus/core/lambda";
import * as Plans from "@nexus/core/plans";

const logger = lambdaLogger("nexus-plans");
const ctx = lambdaContext();

/**
 * The plan state machine's Lambda tasks (start a run, wait for dependencies, dispatch a step, finish): one payload
 * `{op, planId, run, …}` per invocation. The runner is imported here, not by `@nexus/core/lambda`, which every function
 * imports: there it would be in the chunk every function's cold start loads.
 */
export const handler = instrumented(logger, (payload: Record<string, unknown>) => Plans.handle(ctx, payload, logger));
