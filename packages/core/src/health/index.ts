/**
 * Agent health: heartbeats (sent by remote agents, recorded from built-in agents' `health` tasks), the status
 * derived from them (evaluate.ts), the recorded status changes (store.ts), queue depths (depths.ts), agents as the
 * API shows them (describe.ts), the `health` action and the probe that submits it to the built-in agents
 * (action.ts), and the per-agent metrics (metrics.ts).
 */
export {
  actionSpec,
  check,
  HEALTH_ACTION,
  type HealthCheck,
  HealthParams,
  healthAction,
  type ProbeResult,
  probe,
  RECENT_TASKS,
  recentActivity,
} from "./action.js";
export { type Depths, depths, waitingMessages } from "./depths.js";
export { describe, summarize, summarizePage } from "./describe.js";
export { type Evaluation, evaluate, healthOf, type Source, settingsOf } from "./evaluate.js";
export { emitMetrics, emitOnlineCount, isAlive } from "./metrics.js";
export { type HeartbeatReceipt, heartbeat, MAX_TRANSITIONS, recordStatus } from "./store.js";
