import * as z from "zod";
import type { Context } from "../context.js";
import { pure } from "../pure.js";
import {
  type Agent,
  type AgentHealth,
  HealthSettings,
  type HealthStatus,
  type HealthTransition,
  Heartbeat,
} from "../schemas.js";
import { type Depths, UNKNOWN_DEPTHS } from "./depths.js";

/**
 * Agent health: the status an agent's last heartbeat (and, when known, its DLQ depth) gives it. An agent is
 * - `unknown` until its first heartbeat;
 * - `offline` when its last heartbeat is older than `offlineIntervals` × its heartbeat interval;
 * - `degraded` when its heartbeat is late (older than `onlineIntervals` × the interval), when at least
 *   `errorRate` of its tasks failed in the last interval (with at least `minSamples` of them), when its last
 *   health check failed (`details.ok === false`), or when its dead-letter queue holds messages;
 * - `online` otherwise.
 */

/** The thresholds in force: the context's settings over the defaults. */
export function settingsOf(ctx: Context): HealthSettings {
  return HealthSettings.parse(ctx.settings.health ?? {});
}

/** What is recorded on the agent item: the status as last recorded and the recent changes. */
export interface Recorded {
  status: HealthStatus;
  since: string;
  reason: string;
  transitions: HealthTransition[];
}

/** What health reads of an agent: an {@link Agent}, or the agent as a heartbeat left it (with its health fields). */
export type Source = Pick<Agent, "id" | "queue" | "lastHeartbeatAt"> &
  Partial<Pick<Agent, "status">> & { heartbeat?: unknown; healthState?: unknown };

const RecordedSchema = /* @__PURE__ */ pure(() =>
  z.object({
    status: z.enum(["online", "degraded", "offline", "unknown"]),
    since: z.string(),
    reason: z.string(),
    transitions: z.array(
      z.object({
        at: z.string(),
        from: z.enum(["online", "degraded", "offline", "unknown"]),
        to: z.enum(["online", "degraded", "offline", "unknown"]),
        reason: z.string(),
      }),
    ),
  }),
);

export function recordedOf(source: Source): Recorded | undefined {
  const parsed = RecordedSchema.safeParse(source.healthState);
  return parsed.success ? parsed.data : undefined;
}

function heartbeatOf(source: Source): Heartbeat | null {
  if (typeof source.heartbeat !== "string" || !source.lastHeartbeatAt) return null;
  try {
    const parsed = Heartbeat.safeParse(JSON.parse(source.heartbeat));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export interface Evaluation {
  status: HealthStatus;
  reason: string;
  /** When this status began, where the rules say (a heartbeat's age crossing a threshold); else null. */
  startedAt: string | null;
}

/** `45 s`, `3 min 30 s`, `25 min`, `5 h 10 min`. */
function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  if (minutes < 120) return `${minutes} min`;
  return minutes % 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes / 60} h`;
}

/** Names of the failing checks a heartbeat's details report (a built-in agent's health task puts them there). */
function failingChecks(details: Record<string, unknown> | undefined): string[] {
  const checks = details?.checks;
  if (!Array.isArray(checks)) return [];
  return checks
    .filter((c): c is { name: string; ok: boolean } => typeof c?.name === "string" && c.ok === false)
    .map((c) => c.name.slice(0, 64));
}

/** The status an agent has now, from its last heartbeat and (when known) its DLQ depth. */
export function evaluate(
  input: { now: Date; lastHeartbeatAt: string | null; heartbeat: Heartbeat | null; dlqDepth: number | null },
  settings: HealthSettings,
): Evaluation {
  const { heartbeat, lastHeartbeatAt } = input;
  if (!heartbeat || !lastHeartbeatAt) return { status: "unknown", reason: "no heartbeat yet", startedAt: null };
  const last = Date.parse(lastHeartbeatAt);
  const interval = heartbeat.intervalSeconds * 1000;
  const age = Math.max(0, input.now.getTime() - last);
  const offlineAfter = settings.offlineIntervals * interval;
  if (age > offlineAfter) {
    return {
      status: "offline",
      reason: `no heartbeat for ${duration(age)} (offline after ${duration(offlineAfter)} without one)`,
      startedAt: new Date(last + offlineAfter).toISOString(),
    };
  }
  const reasons: string[] = [];
  let startedAt: string | null = null;
  const onlineWithin = settings.onlineIntervals * interval;
  if (age > onlineWithin) {
    reasons.push(`heartbeat late: the last one came ${duration(age)} ago, one is expected every ${duration(interval)}`);
    startedAt = new Date(last + onlineWithin).toISOString();
  }
  const samples = heartbeat.done + heartbeat.failed;
  if (samples >= settings.minSamples && heartbeat.failed / samples >= settings.errorRate) {
    reasons.push(`${heartbeat.failed} of ${samples} tasks failed in the last interval`);
  }
  if (heartbeat.details?.ok === false) {
    const failing = failingChecks(heartbeat.details);
    reasons.push(`its health check failed${failing.length ? ` (${failing.join(", ")})` : ""}`);
  }
  if (input.dlqDepth) {
    reasons.push(`${input.dlqDepth} message${input.dlqDepth === 1 ? "" : "s"} in its dead-letter queue`);
  }
  if (reasons.length > 0) return { status: "degraded", reason: reasons.join("; "), startedAt };
  return { status: "online", reason: `last heartbeat ${duration(age)} ago`, startedAt: null };
}

/** The `health` of an agent as the API shows it. Without depths (lists), the DLQ does not count. */
export function healthOf(source: Source, now: Date, settings: HealthSettings, depthsNow?: Depths): AgentHealth {
  const heartbeat = heartbeatOf(source);
  const lastHeartbeatAt = heartbeat ? (source.lastHeartbeatAt ?? null) : null;
  const d = depthsNow ?? UNKNOWN_DEPTHS;
  const evaluation = evaluate({ now, lastHeartbeatAt, heartbeat, dlqDepth: d.dlqDepth }, settings);
  const recorded = recordedOf(source);
  // An inactive agent is not probed and takes no work: say so where it explains the status.
  const inactive = source.status === "inactive" && evaluation.status !== "online";
  return {
    status: evaluation.status,
    reason: inactive ? `${evaluation.reason}; the agent is inactive` : evaluation.reason,
    since: recorded?.status === evaluation.status ? recorded.since : evaluation.startedAt,
    lastHeartbeatAt,
    heartbeat,
    queueDepth: d.queueDepth,
    dlqDepth: d.dlqDepth,
    transitions: [...(recorded?.transitions ?? [])].reverse(),
  };
}
