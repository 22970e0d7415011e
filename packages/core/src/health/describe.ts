import type { Context } from "../context.js";
import type { Agent, AgentHealth, Page } from "../schemas.js";
import { depths } from "./depths.js";
import { healthOf, type Source, settingsOf } from "./evaluate.js";

/** An agent as the API shows it: its stored heartbeat fields replaced by `health`. */
function present(agent: Agent, health: AgentHealth): Agent {
  const { heartbeat: _heartbeat, healthState: _state, ...rest } = agent as Agent & Omit<Source, keyof Agent>;
  return { ...rest, health };
}

/** One agent with its full health: status, heartbeat, queue and DLQ depths (two SQS calls). */
export async function describe(ctx: Context, agent: Agent): Promise<Agent> {
  return present(agent, healthOf(agent, ctx.now(), settingsOf(ctx), await depths(ctx, agent.queue)));
}

/** The cheap variant for lists: status from the heartbeat alone (error rate, lateness); depths are null. */
export function summarize(ctx: Context, agent: Agent): Agent {
  return present(agent, healthOf(agent, ctx.now(), settingsOf(ctx)));
}

/** A page of agents, each with the cheap {@link summarize} health. */
export function summarizePage(ctx: Context, page: Page<Agent>): Page<Agent> {
  return { ...page, items: page.items.map((agent) => summarize(ctx, agent)) };
}
