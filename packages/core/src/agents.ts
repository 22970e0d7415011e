import type { Context } from "./context.js";
import { ConflictError, NotFoundError, ValidationError } from "./errors.js";
import * as Events from "./events.js";
import { checkParamsSchema } from "./params-schema.js";
import { createAgentQueues, deleteAgentQueues } from "./queues.js";
import { type ActionSpec, type Agent, type Page, type QueueRef, RegisterAgentInput } from "./schemas.js";
import * as Store from "./storage/agents.js";
import type { PageQuery } from "./storage/query.js";
import * as Tasks from "./tasks.js";

/** A built-in agent's description: what the API registers under the agent's fixed id. */
export interface AgentSpec {
  id: string;
  kind: string;
  description: string;
  actions: Array<RegisterAgentInput["actions"][number]>;
}

function checkActions(actions: ActionSpec[]) {
  actions.forEach((action, i) => {
    checkParamsSchema(action.params, `actions.${i}.params`);
  });
}

export { AGENT_CACHE_MS, find, forget, get, getRecent } from "./storage/agents.js";

/** Registers a custom agent: its record and its own queue + DLQ. The name is the id and must be free. */
export async function register(ctx: Context, raw: unknown): Promise<Agent> {
  const parsed = RegisterAgentInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("agent is not valid", parsed.error.issues);
  const input = parsed.data;
  checkActions(input.actions);
  if (Object.hasOwn(ctx.builtinQueues, input.name)) {
    throw new ConflictError("agent_exists", `'${input.name}' is the name of a built-in agent`);
  }
  if (await Store.find(ctx, input.name))
    throw new ConflictError("agent_exists", `an agent named '${input.name}' exists`);
  const queue = await createAgentQueues(ctx, input.name);
  const now = ctx.now().toISOString();
  const agent: Agent = {
    id: input.name,
    name: input.name,
    kind: input.kind,
    description: input.description,
    builtin: false,
    status: "active",
    actions: input.actions,
    queue,
    createdAt: now,
    updatedAt: now,
    lastHeartbeatAt: null,
  };
  if (!(await Store.create(ctx, agent))) {
    throw new ConflictError("agent_exists", `an agent named '${input.name}' exists`);
  }
  await Events.publish(ctx, [{ kind: "agent", type: "registered", agentId: agent.id }]);
  return agent;
}

/** A built-in agent's spec as registration reads it: what {@link readBuiltinSpec} makes. */
export type ReadAgentSpec = AgentSpec & { actions: Agent["actions"] };

/** Specs {@link readBuiltinSpec} made (when the API's bundle was built), declared by {@link alreadyRead}. */
const readAhead = new WeakSet<AgentSpec>();

/**
 * A built-in agent's spec as registration reads it (RegisterAgentInput: checked, defaults filled in): what
 * {@link ensureBuiltin} stores. Reading the built-in agents' specs takes some 5 ms of CPU on a fast machine (zod
 * checks every action's params schema), so the API's bundle carries them read (stacks/bundling.ts).
 */
export function readBuiltinSpec(spec: AgentSpec): ReadAgentSpec {
  const { id, ...rest } = spec;
  const input = RegisterAgentInput.parse({ ...rest, name: id });
  return { id, kind: input.kind, description: input.description, actions: input.actions };
}

/** Declares specs made by {@link readBuiltinSpec} (by the same code, when the bundle was built): not read again. */
export function alreadyRead(specs: AgentSpec[]): AgentSpec[] {
  for (const spec of specs) readAhead.add(spec);
  return specs;
}

/**
 * Registers or refreshes a built-in agent from its spec (idempotent: safe on every cold start). Its
 * actions and queue follow the code; its status and timestamps are kept.
 */
export async function ensureBuiltin(ctx: Context, spec: AgentSpec): Promise<Agent> {
  const queue = ctx.builtinQueues[spec.id];
  if (!queue) throw new Error(`no queue is configured for built-in agent '${spec.id}'`);
  const input = readAhead.has(spec) ? (spec as ReadAgentSpec) : readBuiltinSpec(spec);
  const existing = await Store.find(ctx, spec.id);
  const now = ctx.now().toISOString();
  const agent: Agent = {
    id: spec.id,
    name: spec.id,
    kind: input.kind,
    description: input.description,
    builtin: true,
    status: existing?.status ?? "active",
    actions: input.actions,
    queue,
    createdAt: existing?.createdAt ?? now,
    updatedAt: existing ? existing.updatedAt : now,
    lastHeartbeatAt: existing?.lastHeartbeatAt ?? null,
  };
  const unchanged = existing && JSON.stringify(existing) === JSON.stringify({ ...existing, ...agent });
  if (unchanged) return existing;
  if (existing) agent.updatedAt = now;
  // What else the item holds (its last heartbeat and recorded health) stays as it is.
  await Store.put(ctx, { ...existing, ...agent });
  Store.forget(ctx, agent.id);
  return agent;
}

export function list(ctx: Context, query: PageQuery): Promise<Page<Agent>> {
  return Store.list(ctx, query);
}

/** Every registered agent, by name (paged Queries). */
export async function all(ctx: Context): Promise<Agent[]> {
  const agents: Agent[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(ctx, { limit: 100, cursor });
    agents.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return agents;
}

/** Points an agent at (re-created) queues; the local runtime uses it because its queues live in memory. */
export async function setQueue(ctx: Context, id: string, queue: QueueRef): Promise<void> {
  await Store.setQueue(ctx, id, queue);
  Store.forget(ctx, id);
}

/**
 * Takes an agent out of service (`inactive`: no new tasks, its queue's consumer off, queued tasks wait
 * untouched) or back in. Setting the status it already has is fine.
 */
export async function setStatus(ctx: Context, id: string, status: Agent["status"]): Promise<Agent> {
  const agent = await Store.setStatus(ctx, id, status);
  if (!agent) throw new NotFoundError("agent", id);
  Store.forget(ctx, id);
  await ctx.consumers?.setEnabled(id, status === "active");
  await Events.publish(ctx, [
    { kind: "agent", type: status === "active" ? "reactivated" : "deactivated", agentId: id },
  ]);
  return agent;
}

/**
 * Deletes a custom agent: its record and its queues. Refused while it has queued or running tasks unless
 * `force`, which cancels them first. Built-in agents can only be deactivated. Its tasks stay readable.
 */
export async function remove(ctx: Context, id: string, options: { force: boolean }): Promise<{ cancelled: number }> {
  const agent = await Store.get(ctx, id);
  if (agent.builtin) {
    throw new ConflictError("builtin_agent", `'${id}' is a built-in agent: deactivate it instead of deleting it`);
  }
  let cancelled = 0;
  for (const status of ["queued", "running"] as const) {
    let cursor: string | undefined;
    do {
      const page = await Tasks.listRecords(ctx, { agentId: id, status, limit: options.force ? 100 : 1, cursor });
      if (page.items.length > 0 && !options.force) {
        throw new ConflictError(
          "agent_busy",
          `agent '${id}' has ${status} tasks; wait for them, cancel them, or delete with ?force=true`,
          { status },
        );
      }
      for (const task of page.items) {
        await Tasks.cancel(ctx, task.id, `agent '${id}' was deleted`).then(
          () => cancelled++,
          (error: unknown) => {
            if (!(error instanceof ConflictError)) throw error; // it finished meanwhile
          },
        );
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }
  await ctx.consumers?.setEnabled(id, false);
  await deleteAgentQueues(ctx, agent.queue);
  await Store.remove(ctx, id); // deleted meanwhile by another request is fine
  Store.forget(ctx, id);
  await Events.publish(ctx, [
    {
      kind: "agent",
      type: "deleted",
      agentId: id,
      message: cancelled > 0 ? `${cancelled} tasks cancelled` : undefined,
    },
  ]);
  return { cancelled };
}
