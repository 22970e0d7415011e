import * as Failures from "@nexus/core/failures";
import { instrumented, lambdaContext, lambdaLogger } from "@nexus/core/lambda";

const logger = lambdaLogger("nexus-failures");
const ctx = lambdaContext();

/** Scheduled by EventBridge: moves what waits in the agents' DLQs into the failures inbox. */
export const handler = instrumented(logger, async () => {
  const recorded = await Failures.ingest(ctx);
  logger.info("dead letters ingested", { recorded });
  return { recorded };
});
