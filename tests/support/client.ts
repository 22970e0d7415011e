import { setTimeout as sleep } from "node:timers/promises";

/** Response bodies: tests assert them field by field, so they are left untyped on purpose. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Json = any;

export interface Reply<T = Json> {
  status: number;
  headers: Headers;
  body: T;
}

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
  return {
    get: <T = Json>(path: string) => call<T>("GET", path),
    post: <T = Json>(path: string, body?: unknown) => call<T>("POST", path, body),
    delete: <T = Json>(path: string) => call<T>("DELETE", path),
    raw: call,
    /** Polls a task until it reaches one of `statuses` (default: any finished status). */
    async waitForTask(id: string, statuses = ["succeeded", "failed", "cancelled"], timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const reply = await call("GET", `/v1/tasks/${id}`);
        if (reply.status !== 200) throw new Error(`GET task ${id}: ${reply.status} ${JSON.stringify(reply.body)}`);
        if (statuses.includes(reply.body.status)) return reply.body;
        if (Date.now() > deadline) {
          throw new Error(`task ${id} still ${reply.body.status} after ${timeoutMs} ms: ${JSON.stringify(reply.body)}`);
        }
        await sleep(100);
      }
    },
  };
}
