import type { Agent, Logger } from "@nexus/core";
import * as Plans from "@nexus/core/plans";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { OUTBOUND_ACTIONS, Registry } from "./capabilities.js";
import { type DraftIssue, PlannerOutputError } from "./errors.js";

/** A chat model behind one call: a system prompt and a user message in, the model's text out. */
export interface LlmProvider {
  /** Named in drafts (`planner.name`) and logs: `bedrock`, `openai`. */
  name: string;
  complete(system: string, user: string, signal?: AbortSignal): Promise<string>;
}

const MAX_EXPLANATION = 2000;

/** The answer the prompt asks for; `steps` are checked one by one with the plan step schema. */
const Answer = /* @__PURE__ */ pure(() =>
  z.object({
    name: z.string().min(1).optional(),
    explanation: z.string().min(1).optional(),
    steps: z.array(z.unknown()).min(1).max(Plans.MAX_PLAN_STEPS),
  }),
);
const Refusal = /* @__PURE__ */ pure(() => z.object({ error: z.string().min(1) }));

function systemPrompt(request: Plans.PlanRequest): string {
  const maxSteps = request.constraints?.maxSteps ?? Plans.MAX_PLAN_STEPS;
  return [
    "You are the planner of Nexus, which runs plans: steps executed by registered agents.",
    "Write a plan for the user's goal using only the agents and actions listed in the user message.",
    "Answer with one JSON object and nothing else:",
    '{"name": "<short plan name>", "explanation": "<one or two sentences: what the plan does>", "steps": [...]}',
    "Steps:",
    '- agent step: {"id": "<id>", "agentId": "<agent id>", "action": "<action name>", "params": {...}, "dependsOn": ["<step id>"]}',
    '- approval gate: {"id": "<id>", "kind": "approval", "message": "<what the approver is asked>", "dependsOn": [...]}',
    '- wait: {"id": "<id>", "kind": "wait", "seconds": <1 to 86400>, "dependsOn": [...]}',
    "Rules:",
    "- Step ids are unique lower-case slugs: a letter, then letters, digits, '_' or '-'.",
    "- params must match the action's params schema exactly (no other fields).",
    '- A params string may use an earlier step\'s result: "{{steps.<stepId>.result.<path>}}". That step must be ' +
      "among the step's dependencies, directly or through others. A string that is exactly one reference becomes " +
      "the referenced value; references inside longer strings are replaced by their text.",
    `- At most ${maxSteps} steps.`,
    ...(request.constraints?.requireApproval
      ? [
          "- Put an approval step before every step that sends anything out of the system (email, SMS, chat " +
            "messages…) and make those steps depend on it.",
        ]
      : []),
    "- Use only what the goal says: never invent recipients, URLs or values.",
    'If the goal cannot be done with these agents, answer {"error": "<why, naming what is missing>"} instead.',
  ].join("\n");
}

function userMessage(request: Plans.PlanRequest, agents: Agent[]): string {
  return JSON.stringify({
    goal: request.goal,
    ...(request.constraints ? { constraints: request.constraints } : {}),
    agents: agents.map((agent) => ({
      id: agent.id,
      description: agent.description,
      actions: agent.actions.map((action) => ({
        name: action.name,
        description: action.description,
        params: action.params,
      })),
    })),
  });
}

/** The JSON object in a model's text: the whole text, or the inside of a ```json fence. */
function parseJson(text: string, provider: string): unknown {
  const fenced = /```(?:json|JSON)?[ \t]*\r?\n?([\s\S]*?)```/.exec(text);
  const body = (fenced?.[1] ?? text).trim();
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new PlannerOutputError(
      `the ${provider} planner did not answer with JSON`,
      [{ path: "", message: (error as Error).message.slice(0, 200) }],
      { cause: error },
    );
  }
}

const issuesOf = (error: z.ZodError, prefix: (string | number)[] = []): DraftIssue[] =>
  error.issues.map((issue) => ({ path: [...prefix, ...issue.path].map(String).join("."), message: issue.message }));

/** Steps an approval gate precedes, directly or through others. */
function gated(steps: Plans.PlanStepSpec[]): Set<string> {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const memo = new Map<string, boolean>();
  const behindGate = (id: string, seen: Set<string>): boolean => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const result = (byId.get(id)?.dependsOn ?? []).some(
      (dep) => !seen.has(dep) && (byId.get(dep)?.kind === "approval" || behindGate(dep, new Set([...seen, dep]))),
    );
    memo.set(id, result);
    return result;
  };
  return new Set(steps.filter((s) => behindGate(s.id, new Set([s.id]))).map((s) => s.id));
}

/**
 * What the registry and the constraints say of the steps: known, allowed agents and actions, the step budget,
 * an approval gate before every sending step when asked for. Params and the graph are checked afterwards by
 * `Plans.validateSteps`, as for any plan.
 */
function checkSteps(steps: Plans.PlanStepSpec[], request: Plans.PlanRequest, registry: Registry): DraftIssue[] {
  const issues: DraftIssue[] = [];
  const allowed = new Map(registry.allowed.map((a) => [a.id, a]));
  const maxSteps = request.constraints?.maxSteps;
  if (maxSteps !== undefined && steps.length > maxSteps) {
    issues.push({ path: "steps", message: `has ${steps.length} steps; constraints.maxSteps allows ${maxSteps}` });
  }
  const behindGate = request.constraints?.requireApproval ? gated(steps) : undefined;
  steps.forEach((step, i) => {
    if (step.kind !== undefined && step.kind !== "agent") return;
    const agent = allowed.get(step.agentId);
    if (!agent) {
      const why = registry.agents.some((a) => a.id === step.agentId && a.status === "active")
        ? "is not in constraints.agents"
        : "is not an active registered agent";
      issues.push({ path: `steps.${i}.agentId`, message: `'${step.agentId}' ${why}` });
      return;
    }
    if (!agent.actions.some((a) => a.name === step.action)) {
      issues.push({ path: `steps.${i}.action`, message: `agent '${agent.id}' has no action '${step.action}'` });
    }
    if (behindGate && OUTBOUND_ACTIONS.has(step.action) && !behindGate.has(step.id)) {
      issues.push({
        path: `steps.${i}.dependsOn`,
        message: `sends out (${step.action}) without an approval step before it (constraints.requireApproval)`,
      });
    }
  });
  return issues;
}

/**
 * A planner asking an LLM: the registry's agents and actions (with params schemas) and the step format in the
 * prompt, JSON only in the answer. An answer that is not a usable draft is a {@link PlannerOutputError}; an
 * answer `{"error": …}` (the model says the goal cannot be done) a {@link Plans.CannotPlanError}.
 */
export function createLlmPlanner(provider: LlmProvider, options: { logger: Logger }): Plans.Planner {
  const { logger } = options;
  return {
    async plan(request) {
      const registry = new Registry(request.agents, request.constraints?.agents);
      const started = performance.now();
      const text = await provider.complete(systemPrompt(request), userMessage(request, registry.allowed));
      logger.info("planner answered", {
        provider: provider.name,
        durationMs: Math.round(performance.now() - started),
        chars: text.length,
      });
      const json = parseJson(text, provider.name);
      const refusal = Refusal.safeParse(json);
      if (refusal.success && !(json as { steps?: unknown }).steps) {
        throw new Plans.CannotPlanError(
          `the ${provider.name} planner cannot plan the goal: ${refusal.data.error.slice(0, 500)}`,
        );
      }
      const answer = Answer.safeParse(json);
      if (!answer.success) {
        throw new PlannerOutputError(
          `the ${provider.name} planner's answer is not a plan draft`,
          issuesOf(answer.error),
        );
      }
      const steps: Plans.PlanStepSpec[] = [];
      const issues: DraftIssue[] = [];
      answer.data.steps.forEach((raw, i) => {
        const step = Plans.PlanStepInput.safeParse(raw);
        if (step.success) steps.push(step.data);
        else issues.push(...issuesOf(step.error, ["steps", i]));
      });
      if (issues.length === 0) issues.push(...checkSteps(steps, request, registry));
      if (issues.length > 0) {
        logger.warn("planner answer refused", { provider: provider.name, issues: issues.length });
        throw new PlannerOutputError(`the ${provider.name} planner wrote steps that cannot be used`, issues);
      }
      const explanation = answer.data.explanation ?? `Steps written by the ${provider.name} planner.`;
      return {
        name: (answer.data.name ?? request.goal).slice(0, 120),
        steps,
        planner: { name: provider.name, rule: null, explanation: explanation.slice(0, MAX_EXPLANATION) },
      };
    },
  };
}
