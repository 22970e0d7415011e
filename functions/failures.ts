import { Logger } from "@aws-lambda-powertools/logger";
import { contextFromEnv, Failures } from "@nexus/core";

const logger = new Logger({ serviceName: "nexus-failures" });
const ctx = contextFromEnv();

/** Scheduled by EventBridge: moves what waits in the agents' DLQs into the failures inbox. */
export const handler = async () => {
  const recorded = await Failures.ingest(ctx);
  logger.info("dead letters ingested", { recorded });
  return { recorded };
};
