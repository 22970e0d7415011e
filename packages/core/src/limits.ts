import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { Context } from "./context.js";
import { isConditionalCheckFailed, NexusError } from "./errors.js";

/** A 429 that says when to come back. */
export class RateLimitedError extends NexusError {
  readonly retryAfterSeconds: number;

  constructor(code: string, message: string, retryAfterSeconds: number, details?: unknown) {
    super(code, 429, message, { details });
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/**
 * Counts one unit in a fixed window, refusing when the window's count has reached `limit`. One conditional
 * single-item write; the counter item expires with DynamoDB TTL after the window (`expiresAt`).
 */
async function consume(ctx: Context, key: string, limit: number, windowEnd: Date): Promise<boolean> {
  try {
    await ctx.ddb.send(
      new UpdateCommand({
        TableName: ctx.tableName,
        Key: { PK: key, SK: "COUNTER" },
        UpdateExpression: "ADD #n :one SET expiresAt = :exp",
        ConditionExpression: "attribute_not_exists(#n) OR #n < :limit",
        ExpressionAttributeNames: { "#n": "count" },
        ExpressionAttributeValues: {
          ":one": 1,
          ":limit": limit,
          ":exp": Math.floor(windowEnd.getTime() / 1000) + 3600,
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}

interface RateWindow {
  minute: number;
  /** Requests counted here and not yet added to the shared counter. */
  pending: number;
  /** The shared count as of the last sync. */
  known: number;
  syncedAt: number;
}

const windows = new WeakMap<Context, Map<string, RateWindow>>();

/** Batch size for adding local counts to the shared counter: exact for small limits, cheap for large ones. */
const syncEvery = (perMinute: number) => Math.min(20, Math.max(1, Math.floor(perMinute / 50)));
const SYNC_MS = 1000;

/**
 * Per-key request rate: at most `perMinute` requests in each clock minute, counted across all API instances
 * in one DynamoDB counter per key and minute. Each instance adds its count in small batches (every request
 * for limits under 100/min; at most every 20 requests or every second otherwise), so a key can overshoot
 * its limit by at most a batch per instance.
 */
export async function rateLimit(ctx: Context, keyId: string, perMinute: number): Promise<void> {
  const now = ctx.now();
  const minute = Math.floor(now.getTime() / 60_000);
  const windowEnd = new Date((minute + 1) * 60_000);
  let perKey = windows.get(ctx);
  if (!perKey) {
    perKey = new Map();
    windows.set(ctx, perKey);
  }
  let window = perKey.get(keyId);
  if (!window || window.minute !== minute) {
    window = { minute, pending: 0, known: 0, syncedAt: now.getTime() };
    perKey.set(keyId, window);
  }
  const refuse = () =>
    new RateLimitedError(
      "rate_limited",
      `this key is limited to ${perMinute} requests per minute`,
      (windowEnd.getTime() - now.getTime()) / 1000,
      { limit: perMinute },
    );
  if (window.known + window.pending >= perMinute) throw refuse();
  window.pending++;
  if (window.pending < syncEvery(perMinute) && now.getTime() - window.syncedAt < SYNC_MS) return;
  const adding = window.pending;
  window.pending = 0;
  window.syncedAt = now.getTime();
  const out = await ctx.ddb.send(
    new UpdateCommand({
      TableName: ctx.tableName,
      Key: { PK: `RATE#${keyId}#${minute}`, SK: "COUNTER" },
      UpdateExpression: "ADD #n :n SET expiresAt = :exp",
      ExpressionAttributeNames: { "#n": "count" },
      ExpressionAttributeValues: { ":n": adding, ":exp": Math.floor(windowEnd.getTime() / 1000) + 3600 },
      ReturnValues: "UPDATED_NEW",
    }),
  );
  window.known = Math.max(window.known, Number(out.Attributes?.count ?? 0));
  if (window.known > perMinute) throw refuse();
}

/**
 * Daily spend caps for costly actions (`<agentId>.<action>` → tasks per UTC day), enforced when a task is
 * submitted, for every caller together.
 */
export type DailyCaps = Record<string, number>;

export const DEFAULT_DAILY_CAPS: DailyCaps = { "comms.send_email": 1000, "comms.send_sms": 200 };

export async function spendDailyCap(ctx: Context, caps: DailyCaps, agentId: string, action: string): Promise<void> {
  const name = `${agentId}.${action}`;
  const cap = caps[name];
  if (cap === undefined) return;
  const now = ctx.now();
  const day = now.toISOString().slice(0, 10);
  const windowEnd = new Date(`${day}T00:00:00.000Z`);
  windowEnd.setUTCDate(windowEnd.getUTCDate() + 1);
  if (!(await consume(ctx, `CAP#${name}#${day}`, cap, windowEnd))) {
    throw new RateLimitedError(
      "daily_cap_reached",
      `the daily cap of ${cap} for ${name} is reached; it resets at 00:00 UTC`,
      (windowEnd.getTime() - now.getTime()) / 1000,
      { action: name, cap },
    );
  }
}
