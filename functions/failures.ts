import { contextFromEnv, Failures, instrumented, lambdaLogger } from "@nexus/core";

const logger = lambdaLogger("nexus-failures");
const ctx = contextFromEnv();

/** Scheduled by EventBridge: moves what waits in the agents' DLQs into the failures inbox. */
export const handler = instrumented(logger, async () => {
  const recorded = await Failures.ingest(ctx);
  logger.info("dead letters ingested", { recorded });
  return { recorded };
});
