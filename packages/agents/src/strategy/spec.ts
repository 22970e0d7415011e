import type { AgentSpec } from "@nexus/core";
import * as Health from "@nexus/core/health";
import * as Plans from "@nexus/core/plans";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { builtinSpec, paramsSchemaOf } from "../schema.js";

export const MAX_GOAL_LENGTH = 2000;
export const MAX_SUMMARY_INPUT = 200_000;
export const MAX_SUMMARY_SENTENCES = 20;
export const DEFAULT_SUMMARY_SENTENCES = 3;

export const PlanParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    goal: z.string().min(1).max(MAX_GOAL_LENGTH).describe("What the plan should achieve, in plain words"),
    // The same fields as Plans.PlannerConstraints, without its schema id: the registry's language has no $ref.
    constraints: z
      .strictObject(Plans.PlannerConstraints.shape)
      .optional()
      .describe("Agents the plan may use, an approval gate before sending, a step budget"),
  }),
);
export type PlanParams = z.output<typeof PlanParams>;

export const SummarizeParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    text: z
      .string()
      .min(1)
      .max(MAX_SUMMARY_INPUT)
      .regex(/\S/, "must contain some text")
      .describe(`The text to summarize (at most ${MAX_SUMMARY_INPUT} characters)`),
    maxSentences: z
      .number()
      .int()
      .min(1)
      .max(MAX_SUMMARY_SENTENCES)
      .default(DEFAULT_SUMMARY_SENTENCES)
      .describe("How many sentences the summary keeps at most"),
  }),
);
export type SummarizeParams = z.output<typeof SummarizeParams>;

/** `strategy`: turns goals into plans over the registered agents, and summarizes text without any service. */
export const strategySpec: AgentSpec = builtinSpec(
  {
    id: "strategy",
    kind: "strategy",
    description: "Drafts plans for goals over the registered agents (rules, then an optional LLM) and summarizes text",
  },
  () => [
    {
      name: "plan",
      description:
        "Drafts a plan for a goal from the agents registered now: {name, steps, planner}; validated, never run",
      params: paramsSchemaOf(PlanParams),
      // An LLM provider may throttle or time out (retried); the timeout stays within the function's 60 s.
      retry: { maxAttempts: 3, backoffSeconds: 5, maxBackoffSeconds: 60 },
      timeoutSeconds: 50,
    },
    {
      name: "summarize",
      description: "Extractive summary: the most informative sentences of a text, in their original order",
      params: paramsSchemaOf(SummarizeParams),
      retry: { maxAttempts: 2, backoffSeconds: 1, maxBackoffSeconds: 10 },
      timeoutSeconds: 30,
    },
    Health.actionSpec(
      10,
      "Checks the planner's configuration (rules, LLM settings and key secret) without calling an LLM",
    ),
  ],
);
