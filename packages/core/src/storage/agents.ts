import { perContext, TtlCache } from "../cache.js";
import type { Context } from "../context.js";
import { NotFoundError } from "../errors.js";
import * as Events from "../events.js";
import type { Agent, Page, QueueRef } from "../schemas.js";
import { deleteItem, EXISTS, getItem, IS_NEW, putItem, sendPut } from "./items.js";
import { type PageQuery, queryPage } from "./query.js";
import { keys, partitions } from "./table.js";
import { type ItemUpdate, sendUpdate, updateAndRead, updateItem } from "./update.js";

/**
 * Storage of agents: one item per agent, listed by name. The item also holds what health records of the agent:
 * `lastHeartbeatAt`, `heartbeat` (the last one's metrics, JSON text) and `healthState` (see health/).
 */

/** An agent item as read, with the health attributes it may hold. */
export type AgentItem = Agent & { heartbeat?: unknown; healthState?: unknown };

const ITEM_FIELDS = ["PK", "SK", "GSI1PK", "GSI1SK"] as const;

function fromItem(item: Record<string, unknown>): Agent {
  const agent = { ...item };
  for (const field of ITEM_FIELDS) delete agent[field];
  if (typeof item.actions === "string") agent.actions = JSON.parse(item.actions);
  return agent as Agent;
}

/** Actions (with their params schemas) are stored as JSON text, kept exactly whatever they hold. */
function toItem(agent: Agent) {
  return {
    ...keys.agent(agent.id),
    ...keys.agentIndexes(agent.name),
    ...agent,
    actions: JSON.stringify(agent.actions),
  };
}

export async function get(ctx: Context, id: string): Promise<Agent> {
  const agent = await find(ctx, id);
  if (!agent) throw new NotFoundError("agent", id);
  return agent;
}

export async function find(ctx: Context, id: string): Promise<Agent | undefined> {
  const item = await getItem(ctx, keys.agent(id));
  return item ? fromItem(item) : undefined;
}

/**
 * Agents as the submit path sees them, per context, for {@link AGENT_CACHE_MS}: a submit does not read the
 * agent each time. Changes made in this process clear the entry at once; other instances see them within
 * that time.
 */
export const AGENT_CACHE_MS = 10_000;
const recentOf = perContext<Context, TtlCache<Agent>>(() => new TtlCache(AGENT_CACHE_MS));

/** The agent, possibly as read a few seconds ago (see {@link AGENT_CACHE_MS}). */
export async function getRecent(ctx: Context, id: string): Promise<Agent> {
  const now = ctx.now().getTime();
  const cached = recentOf(ctx).get(id, now);
  if (cached) return cached;
  const agent = await get(ctx, id);
  recentOf(ctx).set(id, agent, now);
  return agent;
}

/** Forgets what this process remembers of an agent (after changing it). */
export function forget(ctx: Context, id: string): void {
  recentOf(ctx).delete(id);
}

/** Writes a new agent; false when one with its id exists. */
export function create(ctx: Context, agent: Agent): Promise<boolean> {
  return putItem(ctx, toItem(agent), IS_NEW);
}

/** Writes an agent whole (what else it holds is passed in `agent`). */
export async function put(ctx: Context, agent: Agent): Promise<void> {
  await sendPut(ctx, toItem(agent));
}

export function list(ctx: Context, query: PageQuery): Promise<Page<Agent>> {
  return queryPage(ctx, { index: "GSI1", partition: partitions.agents, newestFirst: false, map: fromItem }, query);
}

/** Points an agent at other queues; the agent must exist. */
export async function setQueue(ctx: Context, id: string, queue: QueueRef): Promise<void> {
  await sendUpdate(ctx, keys.agent(id), { set: { queue }, condition: EXISTS.expression });
}

/** Sets an agent's status; the agent as it is now, or undefined when there is no such agent. */
export async function setStatus(ctx: Context, id: string, status: Agent["status"]): Promise<Agent | undefined> {
  return updateAndRead(
    ctx,
    keys.agent(id),
    { set: { status, updatedAt: ctx.now().toISOString() }, condition: EXISTS.expression },
    fromItem,
  );
}

/** Deletes an agent's item (gone already is fine). */
export async function remove(ctx: Context, id: string): Promise<void> {
  await deleteItem(ctx, keys.agent(id), EXISTS);
}

/** Stores a heartbeat's time and metrics (JSON text); the agent as it is now, or undefined when there is none. */
export async function saveHeartbeat(
  ctx: Context,
  id: string,
  heartbeat: { at: string; metrics: string },
): Promise<AgentItem | undefined> {
  return updateAndRead(
    ctx,
    keys.agent(id),
    { set: { lastHeartbeatAt: heartbeat.at, heartbeat: heartbeat.metrics }, condition: EXISTS.expression },
    (item) => fromItem(item) as AgentItem,
  );
}

/**
 * Replaces the recorded health state if it is still `previous` (none: nothing recorded yet); false when another
 * writer changed it meanwhile, or the agent is gone.
 */
export async function recordHealth(
  ctx: Context,
  id: string,
  next: object,
  previous: { status: string; since: string } | undefined,
): Promise<boolean> {
  const condition: Omit<ItemUpdate, "set"> = previous
    ? {
        condition: "attribute_exists(PK) AND #state.#status = :status AND #state.#since = :since",
        names: { "#state": "healthState", "#status": "status", "#since": "since" },
        values: { ":status": previous.status, ":since": previous.since },
      }
    : {
        condition: "attribute_exists(PK) AND attribute_not_exists(#state)",
        names: { "#state": "healthState" },
      };
  const changed = (await updateItem(ctx, keys.agent(id), { set: { healthState: next }, ...condition })) !== undefined;
  const state = next as { status?: unknown; reason?: unknown };
  if (changed && state.status !== previous?.status) {
    const reason = typeof state.reason === "string" ? state.reason.slice(0, 300) : undefined;
    await Events.publish(ctx, [
      { kind: "agent", type: `health.${String(state.status)}`, agentId: id, message: reason },
    ]);
  }
  return changed;
}
