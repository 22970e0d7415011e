import { setTimeout as sleep } from "node:timers/promises";

/** Response bodies: tests assert them field by field, so they are left untyped on purpose. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Json = any;

export interface Reply<T = Json> {
  status: number;
  headers: Headers;
  body: T;
}

const FINISHED = ["succeeded", "failed", "cancelled"];

/** A small HTTP client for the Nexus API, as an operator's script would use it (with an API key when given). */
export function apiClient(baseUrl: string, key?: string) {
  const call = async <T = Json>(
    method: string,
    path: string,
    body?: unknown,
    init: RequestInit = {},
  ): Promise<Reply<T>> => {
    const headers: Record<string, string> = {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(init.headers as Record<string, string> | undefined),
    };
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...init,
      headers,
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the assertion to show
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  };
  const waitUntil = async (path: string, done: (body: Json) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = await call("GET", path);
      if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
      if (done(reply.body)) return reply.body;
      if (Date.now() > deadline) {
        throw new Error(`${path} not there after ${timeoutMs} ms: ${JSON.stringify(reply.body)}`);
      }
      await sleep(100);
    }
  };
  return {
    get: <T = Json>(path: string) => call<T>("GET", path),
    post: <T = Json>(path: string, body?: unknown) => call<T>("POST", path, body),
    delete: <T = Json>(path: string) => call<T>("DELETE", path),
    raw: call,
    /** Polls a task until it reaches one of `statuses` (default: any finished status). */
    waitForTask: (id: string, statuses = FINISHED, timeoutMs = 30_000) =>
      waitUntil(`/v1/tasks/${id}`, (body) => statuses.includes(body.status), timeoutMs),
    /** Polls a plan until it reaches one of `statuses` (default: any finished status). */
    waitForPlan: (id: string, statuses = FINISHED, timeoutMs = 30_000) =>
      waitUntil(`/v1/plans/${id}`, (body) => statuses.includes(body.status), timeoutMs),
    /** Polls a resource until `done(body)` holds. */
    waitUntil: (path: string, done: (body: Json) => boolean, timeoutMs = 30_000) => waitUntil(path, done, timeoutMs),
  };
}
