import { builtinSpecs } from "@nexus/agents/specs";
import { createApp } from "@nexus/api";
import { createLogger, type Logger, type Settings } from "@nexus/core";
import type { Json } from "../support/client.js";
import { startTestContext } from "../support/context.js";

export const ADMIN_KEY = "nexus-test-admin-key-AAAA-0123456789abcdef0123456789";
export const ADMIN_SECRET_NAME = "nexus/test/admin-key";

export interface Reply {
  status: number;
  headers: Headers;
  body: Json;
  text: string;
}

/** The API in-process on fresh emulators, with a bootstrap admin key served by the local Secrets Manager. */
export async function startSecured(options: { now?: () => Date; settings?: Partial<Settings>; logger?: Logger } = {}) {
  const env = await startTestContext({
    ...(options.now ? { now: options.now } : {}),
    secrets: { [ADMIN_SECRET_NAME]: ADMIN_KEY },
    plans: true,
    settings: { rateLimitPerMinute: 1_000_000, ...options.settings, adminKeySecret: ADMIN_SECRET_NAME },
  });
  await env.addBuiltinQueue("diag");
  const app = createApp({
    ctx: env.ctx,
    logger: options.logger ?? createLogger("nexus-test", { level: "SILENT" }),
    builtinSpecs,
  });
  const call = async (method: string, path: string, key?: string, body?: unknown): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (key) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await app.request(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: Json = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep text
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
  /** Creates a key with the admin key; returns its token and id. */
  const createKey = async (role: string, extra: Record<string, unknown> = {}) => {
    const reply = await call("POST", "/v1/keys", ADMIN_KEY, { name: `${role}-key`, role, ...extra });
    if (reply.status !== 201) throw new Error(`key creation failed: ${reply.status} ${reply.text}`);
    return { id: reply.body.id as string, token: reply.body.key as string };
  };
  return { env, app, call, createKey };
}
