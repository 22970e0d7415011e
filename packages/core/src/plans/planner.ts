import { NexusError } from "../errors.js";
import type { Agent } from "../schemas.js";
import type { PlannerConstraints, PlanStepInput } from "./schema.js";

/** What a planner proposes for a goal; it is validated like any submitted plan before it is used. */
export interface PlanDraft {
  name: string;
  steps: PlanStepInput[];
  planner: {
    /** `rules`, or the LLM provider's name (`bedrock`, `openai`). */
    name: string;
    /** The rule that matched (rules planner), or null. */
    rule: string | null;
    /** Why these steps, in a sentence or two. */
    explanation: string;
  };
}

export interface PlanRequest {
  goal: string;
  constraints?: PlannerConstraints | undefined;
  /** The agents registered right now (active ones only), with their actions: the capability registry. */
  agents: Agent[];
}

/** Turns a goal into steps over the registered agents, or says why it cannot ({@link CannotPlanError}). */
export interface Planner {
  plan(request: PlanRequest): Promise<PlanDraft>;
}

/** The goal cannot be planned with the agents registered now: a 422 naming the reason, never a guess. */
export class CannotPlanError extends NexusError {
  constructor(reason: string, details?: unknown) {
    super("cannot_plan", 422, reason, { details });
  }
}
