import {
  ActionError,
  type AgentEnvironment,
  type AgentImplementation,
  type Logger,
  NexusError,
  NonRetriableError,
  parseParams,
  type Secrets,
} from "@nexus/core";
import * as Health from "@nexus/core/health";
import * as Plans from "@nexus/core/plans";
import { PlannerConfigError, PlannerUnavailableError } from "./errors.js";
import { createLlmPlanner } from "./llm.js";
import { PLANNER_CONFIG, providerFromConfig } from "./providers.js";
import { planByRules, RULES } from "./rules.js";
import { PlanParams, SummarizeParams, strategySpec } from "./spec.js";
import { summarize } from "./summarize.js";

export { type DraftIssue, PlannerConfigError, PlannerOutputError, PlannerUnavailableError } from "./errors.js";
export { createLlmPlanner, type LlmProvider } from "./llm.js";
export { bedrockProvider, openAiProvider, PLANNER_CONFIG } from "./providers.js";
export { planByRules, RULES, type Rule } from "./rules.js";
export { strategySpec } from "./spec.js";
export { type Summary, splitSentences, summarize } from "./summarize.js";

export interface PlannerOptions {
  /** The `NEXUS_PLANNER_*` settings ({@link PLANNER_CONFIG}) and `AWS_REGION`. */
  config: Readonly<Record<string, string | undefined>>;
  /** Where the OpenAI-compatible API key is read from (`NEXUS_PLANNER_SECRET`). */
  secrets: Secrets;
  logger: Logger;
}

/**
 * The strategy planner: the rules first ({@link RULES}); when no rule understands the goal, the LLM planner
 * if one is configured (`NEXUS_PLANNER_PROVIDER`), otherwise a {@link Plans.CannotPlanError}. Errors:
 * `CannotPlanError` (422 `cannot_plan`), {@link PlannerOutputError} (422 `planner_output_invalid`),
 * {@link PlannerUnavailableError} (503/502 `planner_unavailable`), {@link PlannerConfigError} (500
 * `planner_not_configured`).
 */
export function createPlanner(options: PlannerOptions): Plans.Planner {
  const provider = providerFromConfig(options.config, options.secrets);
  return {
    async plan(request) {
      const ruled = planByRules(request);
      if (ruled) return ruled;
      if (provider) return createLlmPlanner(provider(), { logger: options.logger }).plan(request);
      throw new Plans.CannotPlanError(
        `no rule understands the goal and no LLM planner is configured (${PLANNER_CONFIG.provider}); ` +
          `goals the rules understand look like: ${RULES.map((r) => `'${r.example}'`).join("; ")}`,
        { rules: RULES.map((r) => ({ name: r.name, example: r.example })) },
      );
    },
  };
}

/** A planner failure as the task reports it: refusals are final, an unavailable provider is retried. */
function actionError(error: unknown): unknown {
  if (error instanceof Plans.CannotPlanError) return new NonRetriableError("cannot_plan", error.message);
  if (error instanceof NexusError && error.code === "planner_output_invalid") {
    return new NonRetriableError("planner_output_invalid", error.message);
  }
  if (error instanceof PlannerConfigError) return new NonRetriableError("planner_not_configured", error.message);
  if (error instanceof PlannerUnavailableError) {
    return new ActionError("planner_unavailable", error.message, { retriable: error.retriable });
  }
  return error;
}

/**
 * The `health` action's check: the planner's settings are valid (the LLM provider is built, which checks them, but
 * not called) and, for an OpenAI-compatible provider, its key secret is readable. Never shows the key.
 */
function healthChecks({ config, ctx }: AgentEnvironment) {
  return async () => [
    await Health.check("planner", async () => {
      const provider = providerFromConfig(config, ctx.secrets);
      if (!provider) return `rules only (${RULES.length} rules; no ${PLANNER_CONFIG.provider})`;
      const { name } = provider();
      const secretName = config[PLANNER_CONFIG.secret]?.trim();
      if (name === "openai" && secretName) {
        const secret = `the secret '${secretName}' (${PLANNER_CONFIG.secret})`;
        const key = await ctx.secrets.get(secretName).catch(() => {
          throw new PlannerConfigError(`${secret} could not be read`);
        });
        if (!key?.trim()) throw new PlannerConfigError(`${secret} is empty`);
      }
      return `rules (${RULES.length}), then the ${name} planner (${config[PLANNER_CONFIG.model]?.trim()})`;
    }),
  ];
}

/** `strategy`: drafts plans for goals (rules, then an optional LLM) and summarizes text extractively. */
export const strategy: AgentImplementation = {
  spec: strategySpec,
  handlers(env) {
    const { ctx, config, logger } = env;
    const planner = createPlanner({ config, secrets: ctx.secrets, logger });
    return {
      plan: async (params, { taskId }) => {
        const input = parseParams(PlanParams, params);
        try {
          const draft = await Plans.draft(ctx, planner, input);
          logger.info("plan drafted", { taskId, planner: draft.planner.name, rule: draft.planner.rule });
          return draft;
        } catch (error) {
          throw actionError(error);
        }
      },
      summarize: async (params) => {
        const { text, maxSentences } = parseParams(SummarizeParams, params);
        return summarize(text, maxSentences);
      },
      health: Health.healthAction(env, strategySpec.id, healthChecks(env)),
    };
  },
};
