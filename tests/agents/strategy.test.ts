import { builtinSpecs } from "@nexus/agents/specs";
import { createPlanner, planByRules, RULES, splitSentences, strategy, summarize } from "@nexus/agents/strategy";
import { type Agent, createLogger, type NexusError, NonRetriableError, type Secrets } from "@nexus/core";
import * as Agents from "@nexus/core/agents";
import * as Plans from "@nexus/core/plans";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actionContext, agentOf } from "../support/agents.js";
import { startTestContext } from "../support/context.js";

const logger = createLogger("nexus-test", { level: "SILENT" });
const noSecrets: Secrets = { get: async () => undefined };

/** The built-in agents as registered (all active unless overridden), without the ones left out. */
function registry(options: { overrides?: Record<string, Partial<Agent>>; without?: string[] } = {}): Agent[] {
  return builtinSpecs
    .filter((spec) => !options.without?.includes(spec.id))
    .map((spec) => agentOf(spec, options.overrides?.[spec.id]));
}

const plan = (goal: string, constraints?: Plans.PlannerConstraints, agents = registry()) =>
  planByRules({ goal, constraints, agents });

/** The reason a goal cannot be planned (fails the test when it can). */
function refusal(goal: string, constraints?: Plans.PlannerConstraints, agents = registry()): Plans.CannotPlanError {
  try {
    plan(goal, constraints, agents);
  } catch (error) {
    expect(error).toBeInstanceOf(Plans.CannotPlanError);
    return error as Plans.CannotPlanError;
  }
  throw new Error(`'${goal}' was planned, or left to the LLM planner`);
}

const ids = (draft: Plans.PlanDraft | undefined) => draft?.steps.map((s) => s.id);
const stepOf = (draft: Plans.PlanDraft | undefined, id: string) => draft?.steps.find((s) => s.id === id);
type AgentStep = Extract<Plans.PlanStepInput, { agentId: string }>;

/** The agent step with this id (fails the test when there is none). */
function agentStepOf(draft: Plans.PlanDraft | undefined, id: string): AgentStep {
  const step = stepOf(draft, id);
  if (!step || (step.kind !== undefined && step.kind !== "agent")) throw new Error(`no agent step '${id}'`);
  return step as AgentStep;
}

describe("rules planner", () => {
  it("plans research → summarize → email from the registry's actions", () => {
    const draft = plan("research http://127.0.0.1:8080/page and email a summary to ops@example.com");

    expect(draft).toEqual({
      name: "research http://127.0.0.1:8080/page and email a summary to ops@example.com",
      steps: [
        {
          id: "fetch",
          agentId: "research",
          action: "fetch_page",
          params: { url: "http://127.0.0.1:8080/page" },
          dependsOn: [],
        },
        {
          id: "summarize",
          agentId: "strategy",
          action: "summarize",
          params: { text: "{{steps.fetch.result.text}}" },
          dependsOn: ["fetch"],
        },
        {
          id: "email",
          agentId: "comms",
          action: "send_email",
          params: {
            to: ["ops@example.com"],
            subject: "Summary: {{steps.fetch.result.title}}",
            text: "{{steps.summarize.result.summary}}",
          },
          dependsOn: ["summarize"],
        },
      ],
      planner: { name: "rules", rule: "research_and_send", explanation: expect.any(String) },
    });
    const explanation = draft?.planner.explanation ?? "";
    expect(explanation).toContain("http://127.0.0.1:8080/page");
    expect(explanation).toContain("ops@example.com");
    expect(explanation).toContain("comms.send_email");
  });

  it("reads the other phrasings of research and send: SMS, chat channels, delivery first", () => {
    const sms = plan("Please summarize https://example.com/news and text it to +1 415 555 0100.");
    const channel = plan("read https://example.com/news then post the summary to the ops channel");
    const hashtag = plan("fetch https://example.com/news, then post it to #release-notes");
    const first = plan("email ops@example.com a summary of https://example.com/news");

    expect(sms?.planner.rule).toBe("research_and_send");
    expect(stepOf(sms, "sms")).toMatchObject({
      agentId: "comms",
      action: "send_sms",
      params: { to: "+14155550100", body: "{{steps.summarize.result.summary}}" },
      dependsOn: ["summarize"],
    });
    expect(stepOf(channel, "chat")).toMatchObject({ action: "post_chat", params: { channel: "ops" } });
    expect(stepOf(hashtag, "chat")).toMatchObject({ params: { channel: "release-notes" } });
    expect(ids(first)).toEqual(["fetch", "summarize", "email"]);
    expect(channel?.planner.explanation).toContain("#ops");
  });

  it("sends to every recipient named, one step per kind", () => {
    const draft = plan("research https://example.com/a and send it to ops@example.com, dev@example.com and #ops");

    expect(ids(draft)).toEqual(["fetch", "summarize", "email", "chat"]);
    expect(agentStepOf(draft, "email").params).toMatchObject({ to: ["ops@example.com", "dev@example.com"] });
  });

  it("plans research alone as fetch → summarize", () => {
    const draft = plan("summarize https://example.com/report");

    expect(draft?.planner.rule).toBe("research");
    expect(ids(draft)).toEqual(["fetch", "summarize"]);
  });

  it("plans a lookup for a topic without a URL, with the provider the goal names", () => {
    const suffix = plan("look up Paris via weather");
    const prefix = plan("research weather: Lisbon");

    expect(suffix?.planner.rule).toBe("lookup");
    expect(suffix?.steps).toEqual([
      {
        id: "lookup",
        agentId: "research",
        action: "lookup",
        params: { provider: "weather", query: "Paris" },
        dependsOn: [],
      },
    ]);
    expect(agentStepOf(prefix, "lookup").params).toEqual({ provider: "weather", query: "Lisbon" });
    expect(refusal("research quantum computing").message).toMatch(/needs a provider/);
  });

  it("plans a lookup and sends its result", () => {
    const draft = plan("look up Paris via weather and email it to ops@example.com");

    expect(draft?.planner.rule).toBe("lookup_and_send");
    expect(stepOf(draft, "email")).toMatchObject({ dependsOn: ["lookup"] });
    expect((agentStepOf(draft, "email").params as { text: string }).text).toContain("{{steps.lookup.result.result}}");
  });

  it("plans an HTTP check, and a check that notifies with the check's result", () => {
    const check = plan("check that https://status.example.com/health is up");
    const notify = plan("check https://status.example.com/health and notify #ops");

    expect(check?.planner.rule).toBe("check");
    expect(check?.steps).toEqual([
      {
        id: "check",
        agentId: "ops",
        action: "http_check",
        params: { url: "https://status.example.com/health" },
        dependsOn: [],
      },
    ]);
    expect(notify?.planner.rule).toBe("check_and_notify");
    expect(stepOf(notify, "chat")).toMatchObject({ agentId: "comms", action: "post_chat", dependsOn: ["check"] });
    expect((agentStepOf(notify, "chat").params as { text: string }).text).toContain("{{steps.check.result.status}}");
  });

  it("plans a command and a notification with its output", () => {
    const draft = plan("run df -h then email the output to ops@example.com");
    const quoted = plan('run `grep -r "TODO list" src` and post to #dev');

    expect(draft?.planner.rule).toBe("run_and_notify");
    expect(stepOf(draft, "run")).toEqual({
      id: "run",
      agentId: "ops",
      action: "run_command",
      params: { command: "df", args: ["-h"] },
      dependsOn: [],
    });
    expect(stepOf(draft, "email")).toMatchObject({
      dependsOn: ["run"],
      params: { to: ["ops@example.com"], subject: "Output of df -h" },
    });
    expect((agentStepOf(draft, "email").params as { text: string }).text).toContain("{{steps.run.result.stdout}}");
    expect(agentStepOf(quoted, "run").params).toEqual({ command: "grep", args: ["-r", "TODO list", "src"] });
    expect(plan("run uptime")?.planner.rule).toBe("run");
  });

  it("refuses a command the capability's params schema refuses, naming the action", () => {
    const error = refusal("run rm -rf / then email ops@example.com");

    expect(error.message).toContain("ops.run_command");
    expect(error.message).toContain("params.command");
  });

  it("puts an approval gate before anything sent out when asked for, and only then", () => {
    const gated = plan("research https://example.com/a and email a summary to ops@example.com", {
      requireApproval: true,
    });
    const nothingSent = plan("summarize https://example.com/a", { requireApproval: true });

    expect(ids(gated)).toEqual(["fetch", "summarize", "approve", "email"]);
    expect(stepOf(gated, "approve")).toEqual({
      id: "approve",
      kind: "approval",
      message: expect.stringContaining("ops@example.com"),
      dependsOn: ["summarize"],
    });
    expect(stepOf(gated, "email")?.dependsOn).toEqual(["approve"]);
    expect(gated?.planner.explanation).toMatch(/approval/);
    expect(ids(nothingSent)).toEqual(["fetch", "summarize"]);
  });

  it("uses only the agents constraints.agents allows, naming the missing capability", () => {
    const error = refusal("research https://example.com/a and email a summary to ops@example.com", {
      agents: ["research", "strategy"],
    });

    expect(error.code).toBe("cannot_plan");
    expect(error.status).toBe(422);
    expect(error.message).toContain("send email");
    expect(error.message).toContain("send_email");
    expect(error.message).toContain("constraints.agents");
  });

  it("refuses a capability whose only agent is inactive or missing", () => {
    const inactive = refusal(
      "research https://example.com/a and email a summary to ops@example.com",
      undefined,
      registry({ overrides: { comms: { status: "inactive" } } }),
    );
    const missing = refusal("summarize https://example.com/a", undefined, registry({ without: ["research"] }));

    expect(inactive.message).toMatch(/send email.*comms.*inactive/);
    expect(missing.message).toContain("no registered agent can read a web page (needs an action named fetch_page");
  });

  it("finds a capability by action name on any agent, built-in ones first", () => {
    const mailer = agentOf(
      {
        id: "mailer",
        kind: "custom",
        description: "Custom mail relay",
        actions: [
          {
            name: "send_email",
            params: {
              type: "object",
              properties: { to: { type: "array" }, subject: { type: "string" }, text: { type: "string" } },
            },
          },
        ],
      },
      { builtin: false },
    );
    const goal = "research https://example.com/a and email a summary to ops@example.com";

    const withoutComms = plan(goal, undefined, [mailer, ...registry({ without: ["comms"] })]);
    const withComms = plan(goal, undefined, [mailer, ...registry()]);

    expect(agentStepOf(withoutComms, "email").agentId).toBe("mailer");
    expect(agentStepOf(withComms, "email").agentId).toBe("comms");
  });

  it("keeps to constraints.maxSteps", () => {
    const goal = "research https://example.com/a and email a summary to ops@example.com";

    expect(refusal(goal, { maxSteps: 2 }).message).toMatch(/needs 3 steps.*maxSteps allows 2/);
    expect(plan(goal, { maxSteps: 3 })?.steps).toHaveLength(3);
  });

  it("never guesses a recipient, a URL or a part of the goal it does not understand", () => {
    expect(refusal("research https://example.com/a and email the summary").message).toMatch(/no recipient/);
    expect(refusal("research https://example.com/a and notify").message).toMatch(/names no recipient/);
    expect(refusal("summarize https://a.example.com and https://b.example.com").message).toMatch(/2 URLs/);
    expect(refusal("research https://a.example.com and email {{steps.x.result}} to a@example.com").message).toMatch(
      /\{\{/,
    );
    expect(plan("research https://example.com/a and notify the team")).toBeUndefined();
    expect(plan("research https://example.com/a and translate it to French")).toBeUndefined();
    expect(plan("check https://example.com and email ops@example.com if it is down")).toBeUndefined();
    expect(plan("book a table for two")).toBeUndefined();
  });

  it("refuses an unrecognised goal when no LLM planner is configured, listing what the rules understand", async () => {
    const planner = createPlanner({ config: {}, secrets: noSecrets, logger });

    const error = await planner.plan({ goal: "book a table for two", agents: registry() }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Plans.CannotPlanError);
    expect((error as NexusError).code).toBe("cannot_plan");
    expect((error as NexusError).message).toContain("no rule understands the goal");
    expect((error as NexusError).message).toContain(RULES[0]?.example);
  });
});

describe("summarize", () => {
  const text = [
    "Nexus runs agents on AWS.",
    "The weather was pleasant on the day the team met.",
    "Agents consume tasks from their own queues, and every agent retries failed tasks with backoff.",
    "Lunch was served at noon.",
    "A plan chains agent tasks: each step's task runs when the steps it depends on succeeded.",
    "Someone mentioned a film they liked.",
    "Queues, tasks and agents are the core of Nexus; plans coordinate agents through their tasks.",
  ].join(" ");

  it("keeps the informative sentences, in their original order", () => {
    const result = summarize(text, 3);

    expect(result.sentenceCount).toBe(7);
    expect(result.sentences).toHaveLength(3);
    for (const sentence of result.sentences) expect(sentence).toMatch(/agent|task|queue/i);
    const positions = result.sentences.map((s) => text.indexOf(s));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(result.summary).toBe(result.sentences.join(" "));
  });

  it("respects maxSentences and is deterministic", () => {
    expect(summarize(text, 1).sentences).toHaveLength(1);
    expect(summarize(text, 20).sentences).toHaveLength(7);
    expect(summarize(text, 2)).toEqual(summarize(text, 2));
  });

  it("returns a one-sentence text whole", () => {
    expect(summarize("Hello world.", 3)).toEqual({
      summary: "Hello world.",
      sentences: ["Hello world."],
      sentenceCount: 1,
    });
    expect(summarize("no punctuation at all here", 3).sentences).toEqual(["no punctuation at all here"]);
  });

  it("does not split at abbreviations, initials, decimals or URLs", () => {
    const sentences = splitSentences(
      "Dr. Smith arrived at 3.30 p.m. on Jan. 5 with J. Doe. Some fruit, e.g. apples, is good! " +
        "See https://example.com/a.html for details. It costs $3.50 approx. per unit. Is it U.S. policy? Yes.",
    );

    expect(sentences).toEqual([
      "Dr. Smith arrived at 3.30 p.m. on Jan. 5 with J. Doe.",
      "Some fruit, e.g. apples, is good!",
      "See https://example.com/a.html for details.",
      "It costs $3.50 approx. per unit.",
      "Is it U.S. policy?",
      "Yes.",
    ]);
  });

  it("ends sentences at paragraphs and list items, and joins hard-wrapped lines", () => {
    const sentences = splitSentences("Release notes\n\n- faster queues\n- fewer retries\n\nThe new release\nis out.");

    expect(sentences).toEqual(["Release notes", "faster queues", "fewer retries", "The new release is out."]);
  });

  it("counts a repeated sentence once", () => {
    const footer = "Subscribe to the agents newsletter today.";
    const repeated = `${footer} ${footer} Agents retry failed tasks with backoff. Queues hold the tasks of agents.`;

    const result = summarize(repeated, 3);

    expect(result.sentenceCount).toBe(4);
    expect(result.sentences).toEqual([
      footer,
      "Agents retry failed tasks with backoff.",
      "Queues hold the tasks of agents.",
    ]);
  });
});

describe("the strategy agent on an emulated registry", () => {
  let env: Awaited<ReturnType<typeof startTestContext>>;
  let handlers: ReturnType<typeof strategy.handlers>;
  const context = () => actionContext("task-1");

  beforeAll(async () => {
    env = await startTestContext();
    for (const spec of builtinSpecs) {
      await env.addBuiltinQueue(spec.id);
      await Agents.ensureBuiltin(env.ctx, spec);
    }
    handlers = strategy.handlers({ ctx: env.ctx, config: {}, logger });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it("drafts a plan that passes the plan validation, for every rule's example goal", async () => {
    const planner = createPlanner({ config: {}, secrets: env.ctx.secrets, logger });

    for (const rule of RULES) {
      const draft = await Plans.draft(env.ctx, planner, { goal: rule.example });
      expect(draft.planner.rule, rule.example).toBe(rule.name);
    }
  });

  it("answers the plan action with the validated draft", async () => {
    const goal = "research http://127.0.0.1:8080/page and email a summary to ops@example.com";

    const draft = (await handlers.plan?.(
      { goal, constraints: { requireApproval: true } },
      context(),
    )) as Plans.PlanDraft;

    expect(draft.planner).toMatchObject({ name: "rules", rule: "research_and_send" });
    expect(ids(draft)).toEqual(["fetch", "summarize", "approve", "email"]);
  });

  it("fails the plan action for good when the goal cannot be planned", async () => {
    const error = await handlers.plan?.({ goal: "book a table for two" }, context()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(NonRetriableError);
    expect(error).toMatchObject({ code: "cannot_plan", retriable: false });
  });

  it("refuses params outside the action's schema", async () => {
    const error = await handlers.plan?.({ goal: "" }, context()).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: "invalid_params", retriable: false });
  });

  it("answers the summarize action", async () => {
    const result = await handlers.summarize?.(
      { text: "One sentence only. Another one here.", maxSentences: 1 },
      context(),
    );

    expect(result).toEqual({ summary: expect.any(String), sentences: [expect.any(String)], sentenceCount: 2 });
  });

  it("reads every page of the registry and only its active agents", async () => {
    // 100 agents sort before the relay: it is on the second page of the registry.
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        Agents.register(env.ctx, { name: `filler-${String(i).padStart(3, "0")}`, actions: [{ name: "noop" }] }),
      ),
    );
    await Agents.register(env.ctx, {
      name: "zz-relay",
      actions: [
        {
          name: "send_email",
          params: {
            type: "object",
            properties: { to: { type: "array" }, subject: { type: "string" }, text: { type: "string" } },
          },
        },
      ],
    });
    await Agents.setStatus(env.ctx, "comms", "inactive");
    const goal = "research https://example.com/a and email a summary to ops@example.com";

    try {
      const draft = (await handlers.plan?.({ goal }, context())) as Plans.PlanDraft;
      expect(agentStepOf(draft, "email").agentId).toBe("zz-relay");
    } finally {
      await Agents.setStatus(env.ctx, "comms", "active");
    }
  });
});
