import * as Plans from "@nexus/core/plans";
import { CAPABILITIES, checkParams, type Offer, Registry } from "./capabilities.js";
import {
  DELIVERY_WORDS,
  type Delivery,
  type Goal,
  type Medium,
  parseDelivery,
  parseGoal,
  splitCommandLine,
  unexplained,
} from "./goal.js";

/**
 * The rules planner: goals of a few known shapes ("research <url> and email a summary to <address>", "check
 * <url>", "run <command> then notify <recipient>", "look up <query> via <provider>") turned into steps over
 * whatever active agents offer the actions they need. Offline and deterministic. A goal no rule understands
 * entirely is left to the LLM planner (or refused); a rule that understands the goal but lacks an agent, a
 * recipient or a URL refuses with {@link Plans.CannotPlanError} naming what is missing.
 */

type Step = Plans.PlanStepInput;

/** Steps a rule wrote, before the approval gate and the step budget are applied. */
interface Built {
  /** Steps that produce something, in order; the last one's result is what deliveries send. */
  source: Step[];
  /** What the source steps do, for the explanation: "reads <url> with research.fetch_page, …". */
  did: string;
  delivery?: { plan: DeliveryPlan; content: Content } | undefined;
}

/** What a delivery sends: written per source (a summary, a check's status, a command's output). */
interface Content {
  /** For the approval question and the explanation: "the summary of https://…". */
  what: string;
  subject: string;
  text: string;
  /** SMS body (SMS has no subject). */
  sms: string;
}

interface DeliveryPlan {
  parsed: Delivery;
  senders: Partial<Record<Medium, Offer>>;
}

export interface Rule {
  name: string;
  /** A goal the rule accepts, for documentation and for the message when no rule does. */
  example: string;
  /** Undefined when the goal is not this rule's; otherwise builds the steps (or refuses, naming why). */
  match(goal: Goal): ((registry: Registry) => Built) | undefined;
}

const words = (text: string) => new Set(text.split(" "));
const RESEARCH_WORDS = words(
  "research read fetch summarize summarise digest get download and then the this that page article " +
    "site website web url link it its of at a an content contents text please for me briefly",
);
const CHECK_WORDS = words(
  "check ping probe test the that this if whether is up alive healthy health status of url site website endpoint " +
    "service page it and please",
);
const RESEARCH_VERB = /^(?:research|read|fetch|summari[sz]e|digest)\b/i;
const CHECK_VERB = /^(?:check|ping|probe|test)\b/i;
const RUN_VERB = /^(?:run|execute)\s+(?:the\s+)?(?:command\s+)?/i;
const LOOKUP_VERB = /^(?:look\s*up|lookup|search(?:\s+for)?|find|research)\s+/i;
const SUMMARY_WORD = /\bsummar(?:y|ies|i[sz]e)\b/i;

const ref = (step: string, path: string) => `{{steps.${step}.result.${path}}}`;
const agentStep = (id: string, offer: Offer, params: Record<string, unknown>, dependsOn: string[]): Step => ({
  id,
  agentId: offer.agent.id,
  action: offer.action.name,
  params,
  dependsOn,
});
const via = (offer: Offer) => `${offer.agent.id}.${offer.action.name}`;
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** The one URL a rule works on; a refusal when the goal has none or several. */
function oneUrl(goal: Goal, rule: string): string {
  const [url, ...more] = goal.urls;
  if (!url) throw new Plans.CannotPlanError(`the ${rule} rule needs an http:// or https:// URL and the goal has none`);
  if (more.length > 0) {
    throw new Plans.CannotPlanError(
      `the goal names ${goal.urls.length} URLs (${goal.urls.join(", ")}); the ${rule} rule works on one`,
    );
  }
  return url;
}

/** Recipients and senders of a delivery part; a refusal naming the missing recipient or agent. */
function planDelivery(clause: string, registry: Registry): DeliveryPlan {
  const parsed = parseDelivery(clause);
  if (parsed.mediums.length === 0) {
    throw new Plans.CannotPlanError(
      "the goal asks to send something but names no recipient: an email address, an E.164 phone number " +
        "(+14155550100) or a chat channel (#name)",
    );
  }
  const missing: Record<Medium, [string[], string]> = {
    email: [parsed.emails, "an email address"],
    sms: [parsed.phones, "an E.164 phone number (like +14155550100)"],
    chat: [parsed.channels, "a chat channel (#name, or 'the <name> channel')"],
  };
  for (const medium of parsed.mediums) {
    const [found, what] = missing[medium];
    if (found.length === 0) {
      throw new Plans.CannotPlanError(`the goal asks to send by ${medium} but names no recipient for it: ${what}`);
    }
  }
  const senders: Partial<Record<Medium, Offer>> = {};
  for (const medium of parsed.mediums) senders[medium] = registry.find(CAPABILITIES[medium]);
  return { parsed, senders };
}

/** A delivery part the rule understands entirely, or undefined (then the rule does not match). */
function deliveryOf(goal: Goal): string | undefined {
  if (!goal.delivery) return undefined;
  return unexplained(goal.delivery, DELIVERY_WORDS).length === 0 ? goal.delivery : undefined;
}

/** The send steps of a delivery: one email to every address, one SMS per number, one message per channel. */
function sendSteps(delivery: DeliveryPlan, content: Content, dependsOn: string[]): Step[] {
  const { parsed, senders } = delivery;
  const steps: Step[] = [];
  for (const medium of parsed.mediums) {
    const sender = senders[medium];
    if (!sender) continue;
    if (medium === "email") {
      const params = { to: parsed.emails, subject: content.subject, text: content.text };
      checkParams(sender, params, `the email to ${parsed.emails.join(", ")}`);
      steps.push(agentStep("email", sender, params, dependsOn));
    } else if (medium === "sms") {
      // send_sms takes one recipient: one step each.
      parsed.phones.forEach((to, i) => {
        const params = { to, body: content.sms };
        checkParams(sender, params, `the SMS to ${to}`);
        steps.push(agentStep(parsed.phones.length > 1 ? `sms-${i + 1}` : "sms", sender, params, dependsOn));
      });
    } else {
      parsed.channels.forEach((channel, i) => {
        const params = { channel, text: content.text };
        checkParams(sender, params, `the chat message to ${channel}`);
        steps.push(agentStep(parsed.channels.length > 1 ? `chat-${i + 1}` : "chat", sender, params, dependsOn));
      });
    }
  }
  return steps;
}

/** Every recipient, for the approval question. */
function recipientsOf(parsed: Delivery): string {
  const named = [...parsed.emails, ...parsed.phones, ...parsed.channels.map((c) => `#${c}`)];
  return named.join(", ");
}

/** What is sent to whom and through which action, for the explanation. */
function describeDelivery(delivery: { plan: DeliveryPlan; content: Content }): string {
  const { parsed, senders } = delivery.plan;
  const parts = parsed.mediums.map((medium) => {
    const sender = senders[medium];
    const to = medium === "email" ? parsed.emails : medium === "sms" ? parsed.phones : parsed.channels;
    const how = medium === "email" ? "email" : medium === "sms" ? "SMS" : "chat";
    return `by ${how} to ${to.map((t) => (medium === "chat" ? `#${t}` : t)).join(", ")}${sender ? ` with ${via(sender)}` : ""}`;
  });
  return `sends ${delivery.content.what} ${parts.join(" and ")}`;
}

/** fetch_page → summarize (→ send): "research <url> and email a summary to <address>". */
function research(goal: Goal, clause: string | undefined) {
  return (registry: Registry): Built => {
    const url = oneUrl(goal, clause ? "research_and_send" : "research");
    const fetch = registry.find(CAPABILITIES.fetch);
    const summarize = registry.find(CAPABILITIES.summarize);
    const fetchParams = { url };
    checkParams(fetch, fetchParams, `the URL ${url}`);
    const source = [
      agentStep("fetch", fetch, fetchParams, []),
      agentStep("summarize", summarize, { text: ref("fetch", "text") }, ["fetch"]),
    ];
    const did = `reads ${url} with ${via(fetch)}, summarizes its text with ${via(summarize)}`;
    if (!clause) return { source, did };
    const summary = ref("summarize", "summary");
    const content: Content = {
      what: `the summary of ${url}`,
      subject: `Summary: ${ref("fetch", "title")}`,
      text: summary,
      sms: summary,
    };
    return { source, did, delivery: { plan: planDelivery(clause, registry), content } };
  };
}

/** http_check (→ notify): "check <url> and notify <recipient>". */
function check(goal: Goal, clause: string | undefined) {
  return (registry: Registry): Built => {
    const url = oneUrl(goal, clause ? "check_and_notify" : "check");
    const offer = registry.find(CAPABILITIES.check);
    const params = { url };
    checkParams(offer, params, `the URL ${url}`);
    const source = [agentStep("check", offer, params, [])];
    const did = `checks ${url} with ${via(offer)}`;
    if (!clause) return { source, did };
    const status = `${url} answered HTTP ${ref("check", "status")} in ${ref("check", "durationMs")} ms (ok: ${ref("check", "ok")})`;
    const content: Content = {
      what: `the check's result`,
      subject: `Check of ${cut(url, 900)}: HTTP ${ref("check", "status")}`,
      text: `${status}.`,
      sms: `${status}.`,
    };
    return { source, did, delivery: { plan: planDelivery(clause, registry), content } };
  };
}

/** run_command (→ notify): "run df -h then email the output to <address>". */
function run(commandLine: string, clause: string | undefined) {
  return (registry: Registry): Built => {
    const [command, ...args] = splitCommandLine(commandLine);
    if (!command) throw new Plans.CannotPlanError("the goal asks to run a command but names none");
    const offer = registry.find(CAPABILITIES.command);
    const params = { command, args };
    checkParams(offer, params, `the command '${commandLine}'`);
    const source = [agentStep("run", offer, params, [])];
    const did = `runs '${commandLine}' with ${via(offer)}`;
    if (!clause) return { source, did };
    const shown = cut(commandLine, 200);
    const exited = `'${shown}' exited with code ${ref("run", "exitCode")}`;
    const content: Content = {
      what: `the output of '${shown}'`,
      subject: `Output of ${shown}`,
      text: `${exited}.\n\n${ref("run", "stdout")}`,
      sms: `${exited}: ${ref("run", "stdout")}`,
    };
    return { source, did, delivery: { plan: planDelivery(clause, registry), content } };
  };
}

const PROVIDER_SUFFIX =
  /\s+(?:via|using|from|with)\s+(?:the\s+)?(?:provider\s+)?([a-z0-9][a-z0-9_-]*)(?:\s+(?:provider|api))?$/i;
const PROVIDER_PREFIX = /^([a-z0-9][a-z0-9_-]*):\s*(.+)$/i;

/** lookup (→ send): "look up Paris via weather", "look up weather: Paris". */
function lookup(query: string, clause: string | undefined) {
  return (registry: Registry): Built => {
    const offer = registry.find(CAPABILITIES.lookup);
    const needsProvider = Object.hasOwn(offer.action.params.properties ?? {}, "provider");
    const prefixed = PROVIDER_PREFIX.exec(query);
    const suffixed = PROVIDER_SUFFIX.exec(query);
    const named = prefixed
      ? { provider: prefixed[1] ?? "", query: prefixed[2] ?? "" }
      : suffixed
        ? { provider: suffixed[1] ?? "", query: query.slice(0, suffixed.index) }
        : { provider: undefined, query };
    if (needsProvider && !named.provider) {
      throw new Plans.CannotPlanError(
        `${via(offer)} needs a provider and the goal names none: write 'look up <query> via <provider>' ` +
          "(a provider configured for the lookup agent, e.g. weather)",
      );
    }
    const params = needsProvider ? { provider: named.provider, query: named.query } : { query };
    checkParams(offer, params, `the lookup of '${query}'`);
    const source = [agentStep("lookup", offer, params, [])];
    const using = needsProvider ? ` (provider ${named.provider})` : "";
    const did = `looks up '${params.query}'${using} with ${via(offer)}`;
    if (!clause) return { source, did };
    const text = `Result of looking up '${cut(params.query, 200)}'${using}:\n\n${ref("lookup", "result")}`;
    const content: Content = {
      what: `the result of the lookup`,
      subject: `Lookup: ${cut(params.query, 200)}`,
      text,
      sms: text,
    };
    return { source, did, delivery: { plan: planDelivery(clause, registry), content } };
  };
}

/** The rules, first match wins. */
export const RULES: readonly Rule[] = [
  {
    name: "research_and_send",
    example: "research https://example.com/report and email a summary to ops@example.com",
    match(goal) {
      if (goal.deliveryFirst) {
        // "email ops@example.com a summary of https://…"
        const clause = deliveryOf(goal);
        return clause && goal.urls.length > 0 && SUMMARY_WORD.test(goal.text) ? research(goal, clause) : undefined;
      }
      if (!RESEARCH_VERB.test(goal.source) || goal.urls.length === 0) return undefined;
      if (unexplained(goal.source, RESEARCH_WORDS).length > 0) return undefined;
      const clause = deliveryOf(goal);
      return clause ? research(goal, clause) : undefined;
    },
  },
  {
    name: "research",
    example: "summarize https://example.com/report",
    match(goal) {
      if (goal.delivery || !RESEARCH_VERB.test(goal.source) || goal.urls.length === 0) return undefined;
      return unexplained(goal.source, RESEARCH_WORDS).length === 0 ? research(goal, undefined) : undefined;
    },
  },
  {
    name: "check_and_notify",
    example: "check https://status.example.com/health and notify #ops",
    match(goal) {
      if (!goal.delivery || !CHECK_VERB.test(goal.source) || goal.urls.length === 0) return undefined;
      if (unexplained(goal.source, CHECK_WORDS).length > 0) return undefined;
      const clause = deliveryOf(goal);
      return clause ? check(goal, clause) : undefined;
    },
  },
  {
    name: "check",
    example: "check https://status.example.com/health",
    match(goal) {
      if (goal.delivery || !CHECK_VERB.test(goal.source) || goal.urls.length === 0) return undefined;
      return unexplained(goal.source, CHECK_WORDS).length === 0 ? check(goal, undefined) : undefined;
    },
  },
  {
    name: "run_and_notify",
    example: "run df -h then email the output to ops@example.com",
    match(goal) {
      const command = commandOf(goal);
      if (command === undefined || !goal.delivery) return undefined;
      const clause = deliveryOf(goal);
      return clause ? run(command, clause) : undefined;
    },
  },
  {
    name: "run",
    example: "run `uptime`",
    match(goal) {
      const command = commandOf(goal);
      return command === undefined || goal.delivery ? undefined : run(command, undefined);
    },
  },
  {
    name: "lookup_and_send",
    example: "look up Paris via weather and email it to ops@example.com",
    match(goal) {
      const query = queryOf(goal);
      if (query === undefined || !goal.delivery) return undefined;
      const clause = deliveryOf(goal);
      return clause ? lookup(query, clause) : undefined;
    },
  },
  {
    name: "lookup",
    example: "look up Paris via weather",
    match(goal) {
      const query = queryOf(goal);
      return query === undefined || goal.delivery ? undefined : lookup(query, undefined);
    },
  },
];

/** The command line of a "run …" goal: inside `backticks` when quoted so, otherwise the rest of the clause. */
function commandOf(goal: Goal): string | undefined {
  const verb = RUN_VERB.exec(goal.source);
  if (!verb) return undefined;
  const rest = goal.source.slice(verb[0].length).trim();
  const quoted = /^`([^`]+)`$/.exec(rest);
  if (quoted) return quoted[1]?.trim();
  return rest.includes("`") ? undefined : rest;
}

/** The query of a "look up …" goal; a research goal with a URL is not a lookup. */
function queryOf(goal: Goal): string | undefined {
  const verb = LOOKUP_VERB.exec(goal.source);
  if (!verb || goal.urls.length > 0) return undefined;
  const query = goal.source.slice(verb[0].length).trim();
  return query || undefined;
}

export interface RulesOptions {
  goal: string;
  constraints?: Plans.PlannerConstraints | undefined;
  agents: Plans.PlanRequest["agents"];
}

/**
 * Plans a goal by the first rule that understands it; undefined when none does. Throws
 * {@link Plans.CannotPlanError} when the matching rule lacks an agent, a recipient or a URL, or the plan
 * would exceed `constraints.maxSteps`.
 */
export function planByRules(request: RulesOptions): Plans.PlanDraft | undefined {
  const goal = parseGoal(request.goal);
  const registry = new Registry(request.agents, request.constraints?.agents);
  for (const rule of RULES) {
    const build = rule.match(goal);
    if (!build) continue;
    const built = build(registry);
    const steps = [...built.source];
    let explanation = `Rule ${rule.name}: ${built.did}`;
    if (built.delivery) {
      const last = built.source.at(-1)?.id;
      let dependsOn = last ? [last] : [];
      if (request.constraints?.requireApproval) {
        const question = `Send ${built.delivery.content.what} to ${recipientsOf(built.delivery.plan.parsed)}?`;
        steps.push({ id: "approve", kind: "approval", message: cut(question, 2000), dependsOn });
        dependsOn = ["approve"];
      }
      steps.push(...sendSteps(built.delivery.plan, built.delivery.content, dependsOn));
      explanation += ` and ${describeDelivery(built.delivery)}`;
      if (request.constraints?.requireApproval) explanation += "; an approval step ('approve') comes before sending";
    }
    const maxSteps = request.constraints?.maxSteps ?? Plans.MAX_PLAN_STEPS;
    if (steps.length > maxSteps) {
      throw new Plans.CannotPlanError(
        `the ${rule.name} rule needs ${steps.length} steps (${steps.map((s) => s.id).join(", ")}) ` +
          `and constraints.maxSteps allows ${maxSteps}`,
      );
    }
    return {
      name: cut(goal.text, 120),
      steps,
      planner: { name: "rules", rule: rule.name, explanation: `${explanation}.` },
    };
  }
  return undefined;
}
