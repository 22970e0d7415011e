import { createServer as createHttp1Server, type IncomingHttpHeaders } from "node:http";
import { createServer as createHttp2Server, type ServerHttp2Session } from "node:http2";
import type { AddressInfo, Server } from "node:net";

/** What the model answers next: its text, or an HTTP failure (with an AWS error type for Bedrock). */
export type ScriptedReply = string | { status: number; errorType?: string; message?: string };

/** One request as the endpoint received it. */
export interface RecordedRequest {
  api: "openai" | "bedrock";
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read the recorded bodies field by field
  body: any;
  /** Bedrock: the model id from the path (decoded); OpenAI: the body's `model`. */
  model: string;
}

export interface LlmEndpoint {
  /** The OpenAI-compatible API's base URL, `http://127.0.0.1:<port>/v1` (HTTP/1.1, as fetch speaks it). */
  openaiUrl: string;
  /** The Bedrock Runtime endpoint, `http://127.0.0.1:<port>` (HTTP/2 without TLS, as the SDK client speaks it). */
  bedrockUrl: string;
  /** Every request so far, oldest first. */
  requests: RecordedRequest[];
  /** Queues replies, used one per request in order; with none queued a request gets a 500. */
  reply(...replies: ScriptedReply[]): void;
  stop(): Promise<void>;
}

const CONVERSE = /^\/model\/([^/]+)\/converse$/;
const CHAT_COMPLETIONS = /\/chat\/completions$/;

function tokens(text: string) {
  return Math.ceil(text.length / 4);
}

/** What the handler needs of a request and a response, HTTP/1.1 or HTTP/2 alike. */
interface Exchange {
  request: {
    method?: string | undefined;
    url?: string | undefined;
    headers: IncomingHttpHeaders;
    on(event: "data", listener: (chunk: Buffer) => void): unknown;
    on(event: "end", listener: () => void): unknown;
  };
  response: { writeHead(status: number, headers: Record<string, string>): unknown; end(body: string): unknown };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A loopback stand-in for two LLM APIs with scripted answers: the OpenAI chat completions API
 * (`POST …/chat/completions`) and Bedrock Runtime's Converse (`POST /model/{modelId}/converse`), so the
 * planner's real clients (fetch, the AWS SDK) run unchanged. Two ports, one per protocol: fetch speaks
 * HTTP/1.1, the Bedrock Runtime client HTTP/2 (without TLS: prior knowledge). One reply queue and one record
 * of requests for both. The test that starts it stops it.
 */
export async function startLlmEndpoint(): Promise<LlmEndpoint> {
  const requests: RecordedRequest[] = [];
  const queue: ScriptedReply[] = [];

  const handle = (req: Exchange["request"], res: Exchange["response"]) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
      const converse = CONVERSE.exec(path);
      const api = converse ? "bedrock" : CHAT_COMPLETIONS.test(path) ? "openai" : undefined;
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify(body));
      };
      if (req.method !== "POST" || !api) {
        send(404, { message: `no route for ${req.method} ${path}` });
        return;
      }
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        send(400, { message: "the body is not JSON" });
        return;
      }
      const model = converse ? decodeURIComponent(converse[1] ?? "") : String((body as { model?: unknown }).model);
      requests.push({ api, method: req.method, path, headers: req.headers, body, model });

      const next = queue.shift() ?? { status: 500, message: "no reply scripted" };
      if (typeof next !== "string") {
        const errorType = next.errorType ?? "InternalServerException";
        const message = next.message ?? `scripted HTTP ${next.status}`;
        if (api === "bedrock") send(next.status, { message }, { "x-amzn-errortype": errorType });
        else send(next.status, { error: { message, type: errorType } });
        return;
      }
      const usage = { inputTokens: tokens(text), outputTokens: tokens(next) };
      if (api === "bedrock") {
        send(200, {
          output: { message: { role: "assistant", content: [{ text: next }] } },
          stopReason: "end_turn",
          usage: { ...usage, totalTokens: usage.inputTokens + usage.outputTokens },
          metrics: { latencyMs: 1 },
        });
      } else {
        send(200, {
          id: `chatcmpl-${requests.length}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [{ index: 0, message: { role: "assistant", content: next }, finish_reason: "stop" }],
          usage: {
            prompt_tokens: usage.inputTokens,
            completion_tokens: usage.outputTokens,
            total_tokens: usage.inputTokens + usage.outputTokens,
          },
        });
      }
    });
  };

  const http1 = createHttp1Server(handle);
  const http2 = createHttp2Server(handle);
  const openaiUrl = `${await listen(http1)}/v1`;
  const bedrockUrl = await listen(http2);
  // The SDK's HTTP/2 sessions stay open: they are closed with the server.
  const sessions = new Set<ServerHttp2Session>();
  http2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });

  return {
    openaiUrl,
    bedrockUrl,
    requests,
    reply: (...replies) => {
      queue.push(...replies);
    },
    stop: async () => {
      for (const session of sessions) session.destroy();
      await Promise.all([
        new Promise<void>((resolve) => {
          http1.close(() => resolve());
          http1.closeAllConnections();
        }),
        new Promise<void>((resolve) => http2.close(() => resolve())),
      ]);
    },
  };
}
