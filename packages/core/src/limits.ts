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

/** Per-key request rate: at most `perMinute` requests in each clock minute. */
export async function rateLimit(ctx: Context, keyId: string, perMinute: number): Promise<void> {
  const now = ctx.now();
  const minute = Math.floor(now.getTime() / 60_000);
  const windowEnd = new Date((minute + 1) * 60_000);
  if (!(await consume(ctx, `RATE#${keyId}#${minute}`, perMinute, windowEnd))) {
    throw new RateLimitedError(
      "rate_limited",
      `this key is limited to ${perMinute} requests per minute`,
      (windowEnd.getTime() - now.getTime()) / 1000,
      { limit: perMinute },
    );
  }
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
