import { type AgentEnvironment, type AgentImplementation, parseParams as parse } from "@nexus/core";
import * as Health from "@nexus/core/health";
import { type ChatPoster, createChatPoster } from "./chat.js";
import {
  ChatSecret,
  COMMS_CONFIG,
  isSafeEndpoint,
  optional,
  parseSender,
  readJsonSecret,
  required,
  TwilioSecret,
} from "./config.js";
import { createEmailSender, type EmailSender } from "./email.js";
import { fatal } from "./errors.js";
import { createSmsSender, type SmsSender } from "./sms.js";
import { commsSpec, PostChatParams, SendEmailParams, SendSmsParams } from "./spec.js";

/** Provider requests give up before the action's timeout (30 s), so their error is the one reported. */
const PROVIDER_TIMEOUT_MS = 20_000;

/** Builds a provider on first use; a missing setting fails that action only, and is checked again next time. */
function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= build();
    return value;
  };
}

function providers(env: AgentEnvironment) {
  const { config, ctx } = env;
  return {
    email: lazy<EmailSender>(() => {
      const region = optional(config, COMMS_CONFIG.sesRegion);
      const endpoint = optional(config, COMMS_CONFIG.sesEndpoint);
      return createEmailSender({
        from: parseSender(required(config, COMMS_CONFIG.emailFrom, "send email without a sender")),
        ...(region ? { region } : {}),
        ...(endpoint ? { endpoint } : {}),
        timeoutMs: PROVIDER_TIMEOUT_MS,
      });
    }),
    sms: lazy<SmsSender>(() => {
      const baseUrl = optional(config, COMMS_CONFIG.twilioBaseUrl);
      if (baseUrl && !isSafeEndpoint(baseUrl)) {
        // The Twilio credentials go there in every request.
        throw fatal("not_configured", `${COMMS_CONFIG.twilioBaseUrl} must be an https URL (or http to 127.0.0.1)`);
      }
      return createSmsSender({
        secrets: ctx.secrets,
        secretName: required(config, COMMS_CONFIG.twilioSecret, "send SMS without Twilio credentials"),
        ...(baseUrl ? { baseUrl } : {}),
        timeoutMs: PROVIDER_TIMEOUT_MS,
      });
    }),
    chat: lazy<ChatPoster>(() =>
      createChatPoster({
        secrets: ctx.secrets,
        secretName: required(config, COMMS_CONFIG.chatSecret, "post to chat without channel webhooks"),
        timeoutMs: PROVIDER_TIMEOUT_MS,
      }),
    ),
  };
}

/**
 * The `health` action's checks: each provider's configuration is there and well-formed (the secrets are read
 * and parsed), and nothing is sent. Details name settings and counts, never a secret's value.
 */
function healthChecks({ config, ctx }: AgentEnvironment) {
  return async () => [
    await Health.check("email_sender", () => {
      parseSender(required(config, COMMS_CONFIG.emailFrom, "send email without a sender"));
      return `${COMMS_CONFIG.emailFrom} is set and well-formed`;
    }),
    await Health.check("twilio_secret", async () => {
      const baseUrl = optional(config, COMMS_CONFIG.twilioBaseUrl);
      if (baseUrl && !isSafeEndpoint(baseUrl)) {
        throw fatal("not_configured", `${COMMS_CONFIG.twilioBaseUrl} must be an https URL (or http to 127.0.0.1)`);
      }
      const name = required(config, COMMS_CONFIG.twilioSecret, "send SMS without Twilio credentials");
      const shape = "{accountSid, authToken, from | messagingServiceSid}";
      const { value } = await readJsonSecret(ctx.secrets, COMMS_CONFIG.twilioSecret, name, TwilioSecret, shape);
      return `readable and well-formed (sends from ${value.messagingServiceSid ? "a messaging service" : "a number"})`;
    }),
    await Health.check("chat_secret", async () => {
      const name = required(config, COMMS_CONFIG.chatSecret, "post to chat without channel webhooks");
      const shape = '{"<channel>": {type: "slack" | "teams", url}}';
      const { value } = await readJsonSecret(ctx.secrets, COMMS_CONFIG.chatSecret, name, ChatSecret, shape);
      const channels = Object.keys(value).length;
      return `readable and well-formed (${channels} channel${channels === 1 ? "" : "s"})`;
    }),
  ];
}

/** `comms`: email through SES, SMS through Twilio, chat through Slack / Teams incoming webhooks. */
export const comms: AgentImplementation = {
  spec: commsSpec,
  handlers(env) {
    const { logger } = env;
    const provider = providers(env);
    return {
      send_email: async (params, { taskId, signal }) => {
        const input = parse(SendEmailParams, params);
        const result = await provider.email().send(input, signal);
        logger.info("email sent", { taskId, messageId: result.messageId, recipients: result.accepted });
        return result;
      },
      send_sms: async (params, { taskId }) => {
        const input = parse(SendSmsParams, params);
        const result = await provider.sms().send(input);
        logger.info("sms sent", { taskId, sid: result.sid, segments: result.segments });
        return result;
      },
      post_chat: async (params, { taskId, signal }) => {
        const input = parse(PostChatParams, params);
        const result = await provider.chat().post(input, signal);
        logger.info("chat message posted", { taskId, channel: result.channel, type: result.type });
        return result;
      },
      health: Health.healthAction(env, commsSpec.id, healthChecks(env)),
    };
  },
};
