import { builtinSpecs } from "@nexus/agents/specs";
import {
  createPlanner,
  PlannerConfigError,
  PlannerOutputError,
  PlannerUnavailableError,
  strategy,
} from "@nexus/agents/strategy";
import { createLogger, NonRetriableError, type Secrets } from "@nexus/core";
import * as Agents from "@nexus/core/agents";
import * as Plans from "@nexus/core/plans";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { actionContext, agentOf } from "../support/agents.js";
import { startTestContext } from "../support/context.js";
import { type LlmEndpoint, startLlmEndpoint } from "../support/llm-endpoint.js";

const logger = createLogger("nexus-test", { level: "SILENT" });
const API_KEY = "sk-test-planner-0123456789";
const SECRET_NAME = "nexus/planner-key";

/** Secrets as the Secrets interface gives them, from a map. */
function mapSecrets(values: Record<string, string>): Secrets {
  const map = new Map(Object.entries(values));
  return { get: async (name) => map.get(name) };
}

const agents = builtinSpecs.map((spec) => agentOf(spec));

/** A goal no rule understands entirely ("translate"): only an LLM planner can take it. */
const GOAL = "research https://example.com/a, translate it to French and email it to ops@example.com";

const goodSteps = [
  { id: "fetch", agentId: "research", action: "fetch_page", params: { url: "https://example.com/a" } },
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
    params: { to: ["ops@example.com"], subject: "Summary", text: "{{steps.summarize.result.summary}}" },
    dependsOn: ["summarize"],
  },
];
const answer = (steps: unknown[] = goodSteps) =>
  JSON.stringify({ name: "French summary", explanation: "Reads, summarizes and emails the page.", steps });

let endpoint: LlmEndpoint;

beforeAll(async () => {
  endpoint = await startLlmEndpoint();
});
afterAll(async () => {
  await endpoint?.stop();
});

/** The error a planning attempt ends with (fails the test when it succeeds). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error as Error,
  );
  if (!outcome) throw new Error("planning succeeded");
  return outcome;
}

describe("LLM planner through an OpenAI-compatible API", () => {
  const openai = (config: Record<string, string> = {}) =>
    createPlanner({
      config: {
        NEXUS_PLANNER_PROVIDER: "openai",
        NEXUS_PLANNER_MODEL: "gpt-test",
        NEXUS_PLANNER_URL: endpoint.openaiUrl,
        NEXUS_PLANNER_SECRET: SECRET_NAME,
        ...config,
      },
      secrets: mapSecrets({ [SECRET_NAME]: API_KEY }),
      logger,
    });

  it("reads the API key from the secret, sends it as a bearer token and never returns it", async () => {
    endpoint.reply(answer());
    const before = endpoint.requests.length;

    const draft = await openai().plan({ goal: GOAL, agents });

    expect(draft).toEqual({
      name: "French summary",
      steps: goodSteps.map((step) => ({ dependsOn: [], ...step })),
      planner: { name: "openai", rule: null, explanation: "Reads, summarizes and emails the page." },
    });
    expect(JSON.stringify(draft)).not.toContain(API_KEY);
    const request = endpoint.requests[before];
    expect(request).toMatchObject({ api: "openai", path: "/v1/chat/completions", model: "gpt-test" });
    expect(request?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request?.body.response_format).toEqual({ type: "json_object" });
    const [system, user] = request?.body.messages ?? [];
    expect(system).toMatchObject({
      role: "system",
      content: expect.stringContaining("{{steps.<stepId>.result.<path>}}"),
    });
    const prompt = JSON.parse(user.content);
    expect(prompt.goal).toBe(GOAL);
    const comms = prompt.agents.find((a: { id: string }) => a.id === "comms");
    expect(comms.actions.map((a: { name: string }) => a.name)).toContain("send_email");
    expect(comms.actions[0].params.properties).toHaveProperty("to");
  });

  it("takes the key from a JSON secret too", async () => {
    endpoint.reply(answer());
    const planner = createPlanner({
      config: {
        NEXUS_PLANNER_PROVIDER: "openai",
        NEXUS_PLANNER_MODEL: "gpt-test",
        NEXUS_PLANNER_URL: endpoint.openaiUrl,
        NEXUS_PLANNER_SECRET: SECRET_NAME,
      },
      secrets: mapSecrets({ [SECRET_NAME]: JSON.stringify({ apiKey: "sk-from-json" }) }),
      logger,
    });

    await planner.plan({ goal: GOAL, agents });

    expect(endpoint.requests.at(-1)?.headers.authorization).toBe("Bearer sk-from-json");
  });

  it("accepts a JSON answer in a ```json fence", async () => {
    endpoint.reply(`Here is the plan:\n\`\`\`json\n${answer()}\n\`\`\`\n`);

    const draft = await openai().plan({ goal: GOAL, agents });

    expect(draft.steps.map((s) => s.id)).toEqual(["fetch", "summarize", "email"]);
  });

  it("refuses an answer that is not JSON as planner_output_invalid", async () => {
    endpoint.reply("I would fetch the page, then email it.");

    const error = await failure(openai().plan({ goal: GOAL, agents }));

    expect(error).toBeInstanceOf(PlannerOutputError);
    expect(error).toMatchObject({ code: "planner_output_invalid", status: 422 });
    expect(error.message).toContain("did not answer with JSON");
  });

  it("refuses an answer of the wrong shape, naming each problem", async () => {
    endpoint.reply(
      JSON.stringify({ name: "x", plan: [] }),
      answer([
        { id: "Fetch", agentId: "research", action: "fetch_page" },
        { id: "later", kind: "someday" },
      ]),
    );

    const noSteps = await failure(openai().plan({ goal: GOAL, agents }));
    const badSteps = await failure(openai().plan({ goal: GOAL, agents }));

    expect(noSteps).toMatchObject({
      code: "planner_output_invalid",
      details: [expect.objectContaining({ path: "steps" })],
    });
    expect(badSteps).toBeInstanceOf(PlannerOutputError);
    const paths = (badSteps as PlannerOutputError).details as Array<{ path: string }>;
    expect(paths.map((p) => p.path)).toEqual(expect.arrayContaining(["steps.0.id", "steps.1.kind"]));
  });

  it("refuses steps the registry or the constraints do not allow", async () => {
    const unknownAgent = [{ id: "go", agentId: "travel", action: "book", params: {} }];
    endpoint.reply(answer(unknownAgent), answer(), answer());

    const unknown = await failure(openai().plan({ goal: GOAL, agents }));
    const excluded = await failure(
      openai().plan({ goal: GOAL, agents, constraints: { agents: ["research", "strategy"] } }),
    );
    const ungated = await failure(openai().plan({ goal: GOAL, agents, constraints: { requireApproval: true } }));

    expect(unknown.message).toContain("'travel' is not an active registered agent");
    expect(excluded.message).toContain("'comms' is not in constraints.agents");
    expect(ungated.message).toMatch(/steps\.2\.dependsOn: sends out \(send_email\) without an approval step/);
  });

  it("accepts a gate the model put before sending when approval is required", async () => {
    const [fetch, summarize, email] = goodSteps;
    const gate = { id: "approve", kind: "approval", message: "Send it?", dependsOn: ["summarize"] };
    endpoint.reply(answer([fetch, summarize, gate, { ...email, dependsOn: ["approve"] }]));

    const draft = await openai().plan({ goal: GOAL, agents, constraints: { requireApproval: true } });

    expect(draft.steps.map((s) => s.id)).toEqual(["fetch", "summarize", "approve", "email"]);
  });

  it("reports the model's refusal as cannot_plan", async () => {
    endpoint.reply(JSON.stringify({ error: "no registered agent translates text" }));

    const error = await failure(openai().plan({ goal: GOAL, agents }));

    expect(error).toBeInstanceOf(Plans.CannotPlanError);
    expect(error.message).toContain("no registered agent translates text");
  });

  it("does not ask the LLM when a rule understands the goal", async () => {
    const before = endpoint.requests.length;

    const draft = await openai().plan({
      goal: "research https://example.com/a and email a summary to ops@example.com",
      agents,
    });

    expect(draft.planner).toMatchObject({ name: "rules", rule: "research_and_send" });
    expect(endpoint.requests.length - before).toBe(0);
  });

  it("maps provider failures: throttling is retriable, a refused key is a configuration error", async () => {
    endpoint.reply({ status: 429 }, { status: 401, message: `Incorrect API key provided: ${API_KEY}` });

    const throttled = await failure(openai().plan({ goal: GOAL, agents }));
    const refused = await failure(openai().plan({ goal: GOAL, agents }));

    expect(throttled).toBeInstanceOf(PlannerUnavailableError);
    expect(throttled).toMatchObject({ code: "planner_unavailable", status: 503, retriable: true });
    expect(refused).toBeInstanceOf(PlannerConfigError);
    expect(refused).toMatchObject({ code: "planner_not_configured" });
    expect(refused.message).not.toContain(API_KEY);
  });

  it("refuses to send the key anywhere but https or this machine", async () => {
    const planner = openai({ NEXUS_PLANNER_URL: "http://llm.example.com/v1" });

    const error = await failure(planner.plan({ goal: GOAL, agents }));

    expect(error).toMatchObject({ code: "planner_not_configured" });
    expect(error.message).toContain("NEXUS_PLANNER_URL");
  });
});

describe("LLM planner through Bedrock Converse (the AWS SDK client)", () => {
  const MODEL = "anthropic.claude-test-v1:0";
  const bedrock = () =>
    createPlanner({
      config: {
        NEXUS_PLANNER_PROVIDER: "bedrock",
        NEXUS_PLANNER_MODEL: MODEL,
        NEXUS_PLANNER_URL: endpoint.bedrockUrl,
        AWS_REGION: "us-east-1",
      },
      secrets: mapSecrets({}),
      logger,
    });

  beforeAll(() => {
    // The SDK signs with the function's IAM credentials; here, the environment's.
    vi.stubEnv("AWS_ACCESS_KEY_ID", "AKIDTEST");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "test-secret");
    vi.stubEnv("AWS_SESSION_TOKEN", "");
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it("sends the prompt to the model and reads its answer", async () => {
    endpoint.reply(answer());
    const before = endpoint.requests.length;

    const draft = await bedrock().plan({ goal: GOAL, agents });

    expect(draft.planner).toEqual({
      name: "bedrock",
      rule: null,
      explanation: "Reads, summarizes and emails the page.",
    });
    expect(draft.steps).toHaveLength(3);
    const request = endpoint.requests[before];
    expect(request).toMatchObject({ api: "bedrock", model: MODEL });
    expect(request?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/us-east-1\/bedrock\//,
    );
    expect(request?.body.system[0].text).toContain("Answer with one JSON object");
    expect(JSON.parse(request?.body.messages[0].content[0].text).goal).toBe(GOAL);
    expect(request?.body.inferenceConfig).toMatchObject({ temperature: 0 });
  });

  it("accepts a fenced answer and refuses a malformed one", async () => {
    endpoint.reply(`\`\`\`json\n${answer()}\n\`\`\``, '{"name": "cut short", "steps": [');

    const draft = await bedrock().plan({ goal: GOAL, agents });
    const error = await failure(bedrock().plan({ goal: GOAL, agents }));

    expect(draft.planner.name).toBe("bedrock");
    expect(error).toMatchObject({ code: "planner_output_invalid", status: 422 });
  });

  it("maps Bedrock's refusal of the model access to a configuration error", async () => {
    endpoint.reply({ status: 403, errorType: "AccessDeniedException", message: "no access to the model" });

    const error = await failure(bedrock().plan({ goal: GOAL, agents }));

    expect(error).toBeInstanceOf(PlannerConfigError);
    expect(error.message).toContain("AccessDeniedException");
  });
});

describe("planner settings", () => {
  it("reports a wrong provider setting only when the LLM planner is needed", async () => {
    const planner = createPlanner({
      config: { NEXUS_PLANNER_PROVIDER: "oracle", NEXUS_PLANNER_MODEL: "m" },
      secrets: mapSecrets({}),
      logger,
    });

    const ruled = await planner.plan({ goal: "summarize https://example.com/a", agents });
    const error = await failure(planner.plan({ goal: GOAL, agents }));

    expect(ruled.planner.rule).toBe("research");
    expect(error).toBeInstanceOf(PlannerConfigError);
    expect(error.message).toContain("NEXUS_PLANNER_PROVIDER must be bedrock or openai");
  });
});

describe("the plan action with an LLM planner (emulated registry and Secrets Manager)", () => {
  let env: Awaited<ReturnType<typeof startTestContext>>;
  let handlers: ReturnType<typeof strategy.handlers>;
  const context = () => actionContext("task-llm");

  beforeAll(async () => {
    env = await startTestContext({ secrets: { [SECRET_NAME]: API_KEY } });
    for (const spec of builtinSpecs) {
      await env.addBuiltinQueue(spec.id);
      await Agents.ensureBuiltin(env.ctx, spec);
    }
    const config = {
      NEXUS_PLANNER_PROVIDER: "openai",
      NEXUS_PLANNER_MODEL: "gpt-test",
      NEXUS_PLANNER_URL: endpoint.openaiUrl,
      NEXUS_PLANNER_SECRET: SECRET_NAME,
    };
    handlers = strategy.handlers({ ctx: env.ctx, config, logger });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it("answers with the LLM's draft once it passes the plan validation", async () => {
    endpoint.reply(answer());

    const draft = (await handlers.plan?.({ goal: GOAL }, context())) as Plans.PlanDraft;

    expect(draft.planner.name).toBe("openai");
    expect(endpoint.requests.at(-1)?.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it("fails for good with planner_output_invalid when the draft does not validate, naming the problems", async () => {
    const [fetch, summarize, email] = goodSteps;
    const badEmail = { ...email, params: { to: ["not an address"], subject: "S", text: "T" } };
    endpoint.reply(answer([fetch, summarize, badEmail]));

    const error = await failure(handlers.plan?.({ goal: GOAL }, context()) ?? Promise.resolve());

    expect(error).toBeInstanceOf(NonRetriableError);
    expect(error).toMatchObject({ code: "planner_output_invalid", retriable: false });
    expect(error.message).toContain("steps.2.params.to.0");
  });

  it("retries when the provider is unavailable", async () => {
    endpoint.reply({ status: 503 });

    const error = await failure(handlers.plan?.({ goal: GOAL }, context()) ?? Promise.resolve());

    expect(error).toMatchObject({ code: "planner_unavailable", retriable: true });
  });
});
