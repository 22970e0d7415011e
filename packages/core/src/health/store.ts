import type { Context } from "../context.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { type AgentHealth, type HealthTransition, HeartbeatInput } from "../schemas.js";
import * as AgentStore from "../storage/agents.js";
import { depths } from "./depths.js";
import { type Evaluation, healthOf, type Recorded, recordedOf, type Source, settingsOf } from "./evaluate.js";

/**
 * What is recorded of an agent's health, on its item (storage/agents.ts): `lastHeartbeatAt`, `heartbeat` (the last
 * one's metrics, JSON text) and `healthState` (the recorded status, since when, and the last {@link MAX_TRANSITIONS}
 * changes).
 */

/** Recorded status changes kept per agent. */
export const MAX_TRANSITIONS = 20;

/**
 * Records a status change when the status now differs from the one recorded: one conditional write, so that
 * two writers (a heartbeat, the sweeper) never both record the same change. Returns the change, if recorded.
 * `unknown` is never recorded (it is what an agent without any record has).
 */
export async function recordStatus(
  ctx: Context,
  source: Source,
  evaluation: Evaluation,
): Promise<HealthTransition | undefined> {
  const previous = recordedOf(source);
  const from = previous?.status ?? "unknown";
  if (evaluation.status === from || evaluation.status === "unknown") return undefined;
  const now = ctx.now().toISOString();
  let at = evaluation.startedAt ?? now;
  if (previous && at < previous.since) at = previous.since;
  const transition: HealthTransition = { at, from, to: evaluation.status, reason: evaluation.reason.slice(0, 500) };
  const next: Recorded = {
    status: evaluation.status,
    since: at,
    reason: transition.reason,
    transitions: [...(previous?.transitions ?? []), transition].slice(-MAX_TRANSITIONS),
  };
  // Not recorded: another writer recorded a change meanwhile, or the agent was deleted.
  return (await AgentStore.recordHealth(ctx, source.id, next, previous)) ? transition : undefined;
}

export interface HeartbeatReceipt {
  agentId: string;
  receivedAt: string;
  health: AgentHealth;
}

/**
 * Stores a heartbeat on the agent item (its time and metrics), then records a status change if there is one.
 * Bad metrics are a 400 naming the field; an unknown agent a 404.
 */
export async function heartbeat(ctx: Context, agentId: string, raw: unknown): Promise<HeartbeatReceipt> {
  const parsed = HeartbeatInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("heartbeat is not valid", parsed.error.issues);
  const receivedAt = ctx.now().toISOString();
  const item = await AgentStore.saveHeartbeat(ctx, agentId, { at: receivedAt, metrics: JSON.stringify(parsed.data) });
  if (!item) throw new NotFoundError("agent", agentId);
  const source: Source = { ...item, id: agentId };
  const now = ctx.now();
  const settings = settingsOf(ctx);
  const d = await depths(ctx, source.queue);
  let health = healthOf(source, now, settings, d);
  // Without the DLQ's depth the status could be wrong: nothing is recorded then (the sweeper will).
  if (d.dlqDepth !== null) {
    const changed = await recordStatus(ctx, source, { status: health.status, reason: health.reason, startedAt: null });
    if (changed) health = { ...health, since: changed.at, transitions: [changed, ...health.transitions] };
  }
  return { agentId, receivedAt, health };
}
