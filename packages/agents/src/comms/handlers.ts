import { type AgentEnvironment, type AgentImplementation, parseParams as parse } from "@nexus/core";
import { type ChatPoster, createChatPoster } from "./chat.js";
import { COMMS_CONFIG, isSafeEndpoint, optional, parseSender, required } from "./config.js";
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
    };
  },
};
