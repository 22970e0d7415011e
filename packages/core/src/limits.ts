import type { Context } from "./context.js";
import { NexusError } from "./errors.js";
import * as Counters from "./storage/counters.js";

/**
 * Where a key stands in its per-minute quota after a request: the limit, what is left of it in this clock minute (as
 * this instance knows the shared count), and the seconds until the window resets.
 */
export interface RateQuota {
  limit: number;
  remaining: number;
  resetSeconds: number;
  windowSeconds: number;
}

/** A 429 that says when to come back; one refused by the per-key rate limit also carries its quota. */
export class RateLimitedError extends NexusError {
  readonly retryAfterSeconds: number;
  readonly quota: RateQuota | undefined;

  constructor(code: string, message: string, retryAfterSeconds: number, details?: unknown, quota?: RateQuota) {
    super(code, 429, message, { details });
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
    this.quota = quota;
  }
}

interface RateWindow {
  minute: number;
  /** Requests let through here and not yet sent to the shared counter. */
  pending: number;
  /** Requests let through here whose addition to the shared counter is in flight. */
  sending: number;
  /** The shared count as of the last answer (it includes what this instance had sent by then). */
  known: number;
  syncedAt: number;
  /** The write in flight, if any: one at a time per key and minute. */
  write?: Promise<void>;
}

const windows = new WeakMap<Context, Map<string, RateWindow>>();

/** Batch size for adding local counts to the shared counter: exact for small limits, cheap for large ones. */
const syncEvery = (perMinute: number) => Math.min(20, Math.max(1, Math.floor(perMinute / 50)));
const SYNC_MS = 1000;

function windowOf(ctx: Context, keyId: string, minute: number, now: number): RateWindow {
  let perKey = windows.get(ctx);
  if (!perKey) {
    perKey = new Map();
    windows.set(ctx, perKey);
  }
  let window = perKey.get(keyId);
  if (!window || window.minute !== minute) {
    window = { minute, pending: 0, sending: 0, known: 0, syncedAt: now };
    perKey.set(keyId, window);
  }
  return window;
}

/** Sends what is pending to the shared counter and learns the shared count (one write in flight at a time). */
function sync(ctx: Context, keyId: string, window: RateWindow, windowEnd: Date, now: number): Promise<void> {
  const adding = window.pending;
  window.pending = 0;
  window.sending = adding;
  window.syncedAt = now;
  const write = Counters.addRequests(ctx, { keyId, minute: window.minute, windowEnd }, adding)
    .then(
      (count) => {
        window.known = Math.max(window.known, count);
      },
      (error: unknown) => {
        window.pending += adding; // not counted: the next write carries them
        throw error;
      },
    )
    .finally(() => {
      window.sending = 0;
      window.write = undefined;
    });
  window.write = write;
  return write;
}

/**
 * Per-key request rate: at most `perMinute` requests in each clock minute, counted across all API instances
 * in one DynamoDB counter per key and minute. Each instance adds its count in batches of {@link syncEvery}
 * requests (one for limits under 100/min, at most 20), or every second, with one write in flight at a time;
 * requests it has let through but not yet counted (pending or in flight) never exceed a batch, and a request
 * that would exceed it waits for the write in flight. So one instance keeps exactly to the limit, and with
 * several instances a key gets through at most one batch per instance more than its limit.
 * Returns the key's quota after this request (for the `RateLimit` response headers).
 */
export async function rateLimit(ctx: Context, keyId: string, perMinute: number): Promise<RateQuota> {
  const now = ctx.now();
  const minute = Math.floor(now.getTime() / 60_000);
  const windowEnd = new Date((minute + 1) * 60_000);
  const window = windowOf(ctx, keyId, minute, now.getTime());
  const resetSeconds = Math.max(1, Math.ceil((windowEnd.getTime() - now.getTime()) / 1000));
  const quota = (): RateQuota => ({
    limit: perMinute,
    remaining: Math.max(0, perMinute - (window.known + window.sending + window.pending)),
    resetSeconds,
    windowSeconds: 60,
  });
  const refuse = () =>
    new RateLimitedError(
      "rate_limited",
      `this key is limited to ${perMinute} requests per minute`,
      resetSeconds,
      { limit: perMinute },
      { ...quota(), remaining: 0 },
    );
  const batch = syncEvery(perMinute);
  for (;;) {
    if (window.known + window.sending + window.pending >= perMinute) throw refuse();
    if (window.sending + window.pending < batch || !window.write) break;
    await window.write.catch(() => undefined); // its own request reports a failed write
  }
  window.pending++;
  if (window.write || (window.pending < batch && now.getTime() - window.syncedAt < SYNC_MS)) return quota();
  await sync(ctx, keyId, window, windowEnd, now.getTime());
  if (window.known > perMinute) throw refuse();
  return quota();
}

/**
 * Daily spend caps for costly actions (`<agentId>.<action>` → tasks per UTC day), enforced when a task is
 * submitted, for every caller together.
 */
export type DailyCaps = Record<string, number>;

export const DEFAULT_DAILY_CAPS: DailyCaps = { "comms.send_email": 1000, "comms.send_sms": 200 };

export async function spendDailyCap(
  ctx: Context,
  caps: DailyCaps,
  agentId: string,
  action: string,
  n = 1,
): Promise<void> {
  const name = `${agentId}.${action}`;
  const cap = caps[name];
  if (cap === undefined) return;
  const now = ctx.now();
  const day = now.toISOString().slice(0, 10);
  const windowEnd = new Date(`${day}T00:00:00.000Z`);
  windowEnd.setUTCDate(windowEnd.getUTCDate() + 1);
  // One conditional single-item write: the day's count, unless it has reached the cap.
  if (!(await Counters.spendCap(ctx, { name, day, windowEnd }, cap, n))) {
    throw new RateLimitedError(
      "daily_cap_reached",
      n === 1
        ? `the daily cap of ${cap} for ${name} is reached; it resets at 00:00 UTC`
        : `the daily cap of ${cap} for ${name} leaves fewer than ${n} tasks today; it resets at 00:00 UTC`,
      (windowEnd.getTime() - now.getTime()) / 1000,
      { action: name, cap },
    );
  }
}

/** Gives back `n` tasks of an action's daily cap spent today by a request that was then refused as a whole. */
export async function giveBackDailyCap(
  ctx: Context,
  caps: DailyCaps,
  agentId: string,
  action: string,
  n: number,
): Promise<void> {
  const name = `${agentId}.${action}`;
  if (caps[name] === undefined) return;
  await Counters.giveBackCap(ctx, { name, day: ctx.now().toISOString().slice(0, 10) }, n);
}
