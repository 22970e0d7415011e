import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { keepRecent, listenLoopback, MAX_RECEIVED, readBody, sendJson, sendText } from "./comms-http.js";
import type { StandIn, StandInFactory } from "./types.js";

export const CHAT_SECRET_NAME = "nexus/local/chat";

/**
 * Hook names that fail on purpose, as Slack's webhooks do: `fail-500` → 500, `gone` → 404 `no_service`,
 * `throttle` → 429 with Retry-After, `redirect` → 302 to the `ops` hook (a client must not follow it).
 */
export const FAILING_HOOKS = ["fail-500", "gone", "throttle", "redirect"] as const;

/** The channels of the local chat secret: channel → [type, hook name]. */
const CHANNELS: Record<string, ["slack" | "teams", string]> = {
  ops: ["slack", "ops"],
  alerts: ["teams", "alerts"],
  broken: ["slack", "fail-500"],
  gone: ["slack", "gone"],
  throttled: ["slack", "throttle"],
  moved: ["slack", "redirect"],
};

export interface ReceivedChat {
  hook: string;
  contentType: string | null;
  body: unknown;
  receivedAt: string;
}

/**
 * A receiver for Slack / Teams incoming webhooks: `POST /hooks/{name}/{token}` with a JSON body. Like real
 * webhook URLs, the path holds a secret (the token), so the URLs live only in the local chat secret. What
 * it accepted is at `GET /received` (`?hook=name` to filter), the most recent {@link MAX_RECEIVED} messages.
 */
export const startChatStandIn: StandInFactory = async () => {
  const token = randomBytes(12).toString("hex");
  const received: ReceivedChat[] = [];
  let base = "";

  async function receive(req: IncomingMessage, res: ServerResponse, hook: string) {
    const raw = await readBody(req);
    if (hook === "fail-500") return sendText(res, 500, "internal_error");
    if (hook === "gone") return sendText(res, 404, "no_service");
    if (hook === "throttle") return sendText(res, 429, "rate_limited", { "retry-after": "1" });
    if (hook === "redirect") return sendText(res, 302, "", { location: `${base}/hooks/ops/${token}` });
    const contentType = req.headers["content-type"] ?? null;
    if (raw === undefined) return sendText(res, 413, "payload_too_large");
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return sendText(res, 400, "invalid_payload");
    }
    if (!contentType?.startsWith("application/json") || typeof body !== "object" || body === null) {
      return sendText(res, 400, "invalid_payload");
    }
    keepRecent(received, { hook, contentType, body, receivedAt: new Date().toISOString() });
    sendText(res, 200, "ok");
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method === "GET" && url.pathname === "/received") {
      const hook = url.searchParams.get("hook");
      return sendJson(res, 200, { received: hook ? received.filter((r) => r.hook === hook) : received });
    }
    const match = /^\/hooks\/([a-z0-9_-]{1,64})\/([a-f0-9]+)$/.exec(url.pathname);
    if (req.method === "POST" && match?.[1]) {
      if (match[2] !== token) {
        req.resume();
        return sendText(res, 403, "invalid_token");
      }
      receive(req, res, match[1]).catch(() => sendText(res, 500, "internal_error"));
      return;
    }
    req.resume();
    sendText(res, 404, "not_found");
  });
  const listening = await listenLoopback(server);
  base = listening.url;

  const channels = Object.fromEntries(
    Object.entries(CHANNELS).map(([channel, [type, hook]]) => [
      channel,
      { type, url: `${base}/hooks/${hook}/${token}` },
    ]),
  );
  const names = Object.entries(CHANNELS)
    .map(([channel, [type]]) => `${channel} (${type})`)
    .join(", ");
  const standIn: StandIn = {
    name: "chat",
    url: base,
    config: { NEXUS_CHAT_SECRET: CHAT_SECRET_NAME },
    secrets: { [CHAT_SECRET_NAME]: JSON.stringify(channels) },
    describe: [`Chat webhooks:      ${base}/received  (channels: ${names})`],
    stop: listening.stop,
  };
  return standIn;
};
