import { Logger } from "@aws-lambda-powertools/logger";
import { contextFromEnv, Sweeper } from "@nexus/core";

const logger = new Logger({ serviceName: "nexus-sweeper" });
const ctx = contextFromEnv();
/** A task looking stuck for this long (queued past due, or running past its lease) is presumed lost. */
const GRACE_MS = Number(process.env.NEXUS_SWEEP_GRACE_SECONDS ?? 300) * 1000;

/** Scheduled by EventBridge: re-queues tasks whose message or worker was lost. */
export const handler = async () => {
  const result = await Sweeper.sweep(ctx, { graceMs: GRACE_MS });
  logger.info("sweep done", { ...result });
  return result;
};
