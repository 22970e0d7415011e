import type { Secrets } from "@nexus/core";
import { ChatSecret, COMMS_CONFIG, readJsonSecret } from "./config.js";
import { fatal, networkError, webhookError } from "./errors.js";
import type { PostChatParams } from "./spec.js";

export interface ChatPosterOptions {
  secrets: Secrets;
  /** Name (or ARN) of the chat secret. */
  secretName: string;
  timeoutMs?: number;
}

export interface ChatResult {
  channel: string;
  type: "slack" | "teams";
  status: number;
}

export interface ChatPoster {
  post(params: PostChatParams, signal?: AbortSignal): Promise<ChatResult>;
}

type Blocks = PostChatParams["blocks"];

/** A Slack incoming-webhook message: `text` (the notification and fallback) and optional Block Kit blocks. */
export function slackPayload(text: string, blocks: Blocks) {
  return { text, ...(blocks?.length ? { blocks } : {}) };
}

/**
 * A Teams message for an incoming webhook (Workflows or the classic connector): one Adaptive Card (1.4)
 * whose body is the text as a wrapping TextBlock, then the given blocks as further card elements.
 */
export function teamsPayload(text: string, blocks: Blocks) {
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          body: [{ type: "TextBlock", text, wrap: true }, ...(blocks ?? [])],
        },
      },
    ],
  };
}

const SHAPE = '{"<channel>": {"type": "slack" | "teams", "url": "https://…"}}';

/** The start of a webhook's answer when it is a short error slug (Slack's `invalid_blocks`…), else undefined. */
async function errorSlug(response: Response): Promise<string | undefined> {
  const reader = response.body?.getReader();
  if (!reader) return undefined;
  let text = "";
  try {
    const decoder = new TextDecoder();
    while (text.length < 200) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const slug = text.trim();
  return /^[a-z][a-z0-9_]{1,63}$/.test(slug) ? slug : undefined;
}

/** Chat messages to Slack or Teams incoming webhooks, looked up by channel name in the chat secret. */
export function createChatPoster(options: ChatPosterOptions): ChatPoster {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return {
    async post(params, signal) {
      const { value: channels } = await readJsonSecret(
        options.secrets,
        COMMS_CONFIG.chatSecret,
        options.secretName,
        ChatSecret,
        SHAPE,
      );
      const channel = Object.hasOwn(channels, params.channel) ? channels[params.channel] : undefined;
      if (!channel) {
        const known = Object.keys(channels).sort().join(", ") || "none";
        throw fatal("unknown_channel", `no chat channel '${params.channel}' is configured (configured: ${known})`);
      }
      const payload =
        channel.type === "slack" ? slackPayload(params.text, params.blocks) : teamsPayload(params.text, params.blocks);
      const timeout = AbortSignal.timeout(timeoutMs);
      let response: Response;
      try {
        response = await fetch(channel.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(payload),
          // A redirect would send the message somewhere the secret does not name.
          redirect: "manual",
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } catch (error) {
        throw networkError(`the webhook of channel '${params.channel}'`, error);
      }
      if (response.status >= 200 && response.status < 300) {
        await response.body?.cancel().catch(() => undefined);
        return { channel: params.channel, type: channel.type, status: response.status };
      }
      throw webhookError(params.channel, response.status, await errorSlug(response).catch(() => undefined));
    },
  };
}
