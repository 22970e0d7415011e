import { type ActionSpec, type Agent, validateParams } from "@nexus/core";
import * as Plans from "@nexus/core/plans";

/**
 * What a plan step needs from the registry: an action found by its name and the params it must take, never
 * by an agent's id. Any active agent offering it qualifies (a custom agent too); built-in agents come first,
 * then the registry's order.
 */
export interface Capability {
  /** What it does, for messages: "send email". */
  what: string;
  action: string;
  /** Params the action must declare (an action with an open params schema qualifies as well). */
  params: string[];
}

export const CAPABILITIES = {
  fetch: { what: "read a web page", action: "fetch_page", params: ["url"] },
  summarize: { what: "summarize text", action: "summarize", params: ["text"] },
  email: { what: "send email", action: "send_email", params: ["to", "subject", "text"] },
  sms: { what: "send SMS", action: "send_sms", params: ["to", "body"] },
  chat: { what: "post to a chat channel", action: "post_chat", params: ["channel", "text"] },
  check: { what: "check a URL", action: "http_check", params: ["url"] },
  command: { what: "run a command", action: "run_command", params: ["command", "args"] },
  lookup: { what: "look things up", action: "lookup", params: ["query"] },
} satisfies Record<string, Capability>;

/** Actions that send something out of the system: an approval gate goes before them when asked for. */
export const OUTBOUND_ACTIONS: ReadonlySet<string> = new Set([
  CAPABILITIES.email.action,
  CAPABILITIES.sms.action,
  CAPABILITIES.chat.action,
]);

/** An agent's action offering a capability. */
export interface Offer {
  agent: Agent;
  action: ActionSpec;
}

const takes = (action: ActionSpec, params: string[]) => {
  const declared = action.params.properties;
  if (!declared) return action.params.additionalProperties !== false;
  return params.every((name) => Object.hasOwn(declared, name));
};

const list = (values: readonly string[]) => values.join(", ");

/** The registry as a planner may use it: active agents, narrowed to `constraints.agents` when given. */
export class Registry {
  readonly allowed: Agent[];

  constructor(
    readonly agents: Agent[],
    readonly only?: readonly string[],
  ) {
    this.allowed = agents.filter((a) => a.status === "active" && (!only || only.includes(a.id)));
  }

  /** The agent and action providing `capability`; a {@link Plans.CannotPlanError} naming what is missing. */
  find(capability: Capability): Offer {
    const offers = (agents: Agent[]) =>
      agents.flatMap((agent) => {
        const action = agent.actions.find((a) => a.name === capability.action);
        return action && takes(action, capability.params) ? [{ agent, action }] : [];
      });
    const found = offers(this.allowed).sort((a, b) => Number(b.agent.builtin) - Number(a.agent.builtin))[0];
    if (found) return found;
    const needs = `an action named ${capability.action} taking ${list(capability.params)}`;
    const elsewhere = offers(this.agents);
    const inactive = elsewhere.filter((p) => p.agent.status !== "active").map((p) => p.agent.id);
    const excluded = elsewhere.filter((p) => p.agent.status === "active").map((p) => p.agent.id);
    const why =
      excluded.length > 0
        ? `: ${list(excluded)} offer${excluded.length > 1 ? "" : "s"} ${capability.action} but constraints.agents allows only ${list(this.only ?? [])}`
        : inactive.length > 0
          ? `: ${list(inactive)} offer${inactive.length > 1 ? "" : "s"} ${capability.action} but ${inactive.length > 1 ? "are" : "is"} inactive`
          : ` (needs ${needs})`;
    throw new Plans.CannotPlanError(
      `no ${excluded.length > 0 ? "allowed" : "registered"} agent can ${capability.what}${why}`,
      {
        capability: capability.action,
        params: capability.params,
      },
    );
  }
}

const REFERENCE = /\{\{\s*steps\./;

function valueAt(params: unknown, path: string): unknown {
  let value: unknown = { params };
  for (const segment of path.split(".")) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/**
 * Checks params written from the goal against the offering action's schema, so a refused recipient or command is
 * reported as the goal's problem. Values holding step references are known only at dispatch and skipped.
 */
export function checkParams(offer: Offer, params: Record<string, unknown>, what: string): void {
  const issues = validateParams(offer.action.params, params).filter((issue) => {
    const value = valueAt(params, issue.path);
    return !(typeof value === "string" && REFERENCE.test(value));
  });
  if (issues.length === 0) return;
  const named = issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ");
  throw new Plans.CannotPlanError(
    `${offer.agent.id}.${offer.action.name} would refuse ${what} (${named})`.slice(0, 1000),
    issues,
  );
}
