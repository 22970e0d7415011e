import type { AgentSpec, Context, Logger } from "@nexus/core";
import * as Agents from "@nexus/core/agents";

export interface BuiltinOptions {
  ctx: Context;
  logger: Logger;
  /**
   * The built-in agents' specs, or what loads them (with the first request); those the deployment gives no queue are
   * skipped, with a warning.
   */
  builtinSpecs: AgentSpec[] | (() => Promise<AgentSpec[]>);
}

/**
 * Registers (or refreshes) the deployed built-in agents once per process: the API before it serves its first request,
 * the probe before its first run. Returns the wait for it; a failure is not kept, the next call tries again.
 * Light on purpose (the domain only, no HTTP): functions/probe.ts imports it as `@nexus/api/builtins`.
 */
export function builtinRegistration(options: BuiltinOptions): () => Promise<unknown> {
  let ready: Promise<unknown> | undefined;
  return () => {
    ready ??= deployedBuiltins(options)
      .then((specs) => Promise.all(specs.map((spec) => Agents.ensureBuiltin(options.ctx, spec))))
      .catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
    return ready;
  };
}

/** The built-in agents this deployment runs: those with a queue (a stack may deploy only some). */
async function deployedBuiltins({ ctx, logger, builtinSpecs }: BuiltinOptions) {
  const specs = typeof builtinSpecs === "function" ? await builtinSpecs() : builtinSpecs;
  return specs.filter((spec) => {
    if (spec.id in ctx.builtinQueues) return true;
    logger.warn("built-in agent has no queue configured; not registered", { agentId: spec.id });
    return false;
  });
}
