import { planRunnerLambda } from "@nexus/core/lambda";

/** The plan state machine's Lambda tasks (start a run, wait for dependencies, dispatch a step, finish). */
export const handler = planRunnerLambda();
