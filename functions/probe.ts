import { builtinSpecs } from "@nexus/agents/specs";
import { builtinRegistration } from "@nexus/api/builtins";
import * as Health from "@nexus/core/health";
import { instrumented, lambdaContext, lambdaLogger } from "@nexus/core/lambda";

const logger = lambdaLogger("nexus-probe");
const ctx = lambdaContext();
/** Registers (or refreshes) the deployed built-in agents once per process, as the API does before its first request. */
const builtinsReady = builtinRegistration({ ctx, logger, builtinSpecs });

/**
 * Scheduled by EventBridge every probe interval: submits a `health` task to each active built-in agent (one per
 * agent per interval slot, by idempotency key). The agent runs its checks and records its heartbeat.
 */
export const handler = instrumented(logger, async () => {
  await builtinsReady();
  const result = await Health.probe(ctx);
  if (result.failed.length > 0) logger.error("some agents could not be probed", { failed: result.failed });
  logger.info("probe done", {
    slot: result.slot,
    submitted: result.submitted.map((s) => s.agentId),
    skipped: result.skipped,
  });
  return result;
});
