import type { AgentSpec } from "@nexus/core";
import * as Health from "@nexus/core/health";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { builtinSpec, paramsSchemaOf } from "../schema.js";
import { EMAIL_ADDRESS } from "./sender.js";

export { EMAIL_ADDRESS };

/** RFC 5321's limit on a forward path. */
export const MAX_ADDRESS_LENGTH = 254;
/** E.164: a plus, a country code that does not start with 0, at most 15 digits in all. */
export const E164 = /^\+[1-9]\d{6,14}$/;
/** A chat channel's name in the chat secret: a lower-case slug. */
export const CHANNEL = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** One line of text: no control characters (C0 or DEL), so no CR/LF (header injection). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point (to refuse them)
export const ONE_LINE = /^[^\u0000-\u001f\u007f]*$/;

/** SES accepts at most 50 recipients per message (to, cc and bcc together). */
export const MAX_RECIPIENTS = 50;
/** Bodies are bounded by the task's params cap (64 KB) anyway; this keeps the error message specific. */
export const MAX_EMAIL_BODY = 60_000;
export const MAX_SMS_BODY = 1600;
export const MAX_CHAT_TEXT = 4000;
export const MAX_CHAT_BLOCKS = 50;

export const EmailAddress = /* @__PURE__ */ pure(() =>
  z
    .string()
    .max(MAX_ADDRESS_LENGTH)
    .regex(EMAIL_ADDRESS, "must be a plain email address like name@example.com (ASCII, no display name)"),
);
export const PhoneNumber = /* @__PURE__ */ pure(() =>
  z.string().regex(E164, "must be an E.164 phone number: +, country code and number, digits only (e.g. +14155550100)"),
);
export const ChannelName = /* @__PURE__ */ pure(() =>
  z.string().regex(CHANNEL, "must be a channel name: lower-case letters, digits, '-' and '_', at most 64 characters"),
);

const recipients = (description: string) => z.array(EmailAddress).max(MAX_RECIPIENTS).optional().describe(description);

export const SendEmailParams = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      to: z.array(EmailAddress).min(1).max(MAX_RECIPIENTS).describe("Recipients (at most 50 with cc and bcc)"),
      cc: recipients("Carbon-copy recipients"),
      bcc: recipients("Blind carbon-copy recipients"),
      replyTo: z.array(EmailAddress).min(1).max(10).optional().describe("Reply-To addresses"),
      subject: z
        .string()
        .min(1)
        .max(998)
        .regex(ONE_LINE, "must be one line without control characters")
        .describe("Subject line"),
      text: z.string().min(1).max(MAX_EMAIL_BODY).optional().describe("Plain-text body (text, html or both)"),
      html: z.string().min(1).max(MAX_EMAIL_BODY).optional().describe("HTML body (text, html or both)"),
    })
    .refine((p) => p.text !== undefined || p.html !== undefined, {
      message: "a text or an html body is required",
      path: ["text"],
    })
    .refine((p) => p.to.length + (p.cc?.length ?? 0) + (p.bcc?.length ?? 0) <= MAX_RECIPIENTS, {
      message: `at most ${MAX_RECIPIENTS} recipients in to, cc and bcc together`,
      path: ["to"],
    }),
);
export type SendEmailParams = z.output<typeof SendEmailParams>;

export const SendSmsParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    to: PhoneNumber.describe("Recipient, E.164"),
    body: z.string().min(1).max(MAX_SMS_BODY).describe("Message text (long texts are sent as several segments)"),
  }),
);
export type SendSmsParams = z.output<typeof SendSmsParams>;

export const PostChatParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    channel: ChannelName.describe("A channel configured in the chat secret"),
    text: z
      .string()
      .min(1)
      .max(MAX_CHAT_TEXT)
      .describe("Message text (also the notification text when blocks are given)"),
    blocks: z
      .array(z.looseObject({}))
      .max(MAX_CHAT_BLOCKS)
      .optional()
      .describe("Slack channels: Block Kit blocks. Teams channels: Adaptive Card elements placed after the text"),
  }),
);
export type PostChatParams = z.output<typeof PostChatParams>;

/**
 * Quick retries: providers throttle per second (SES's send rate, Slack's 1 message/s per webhook), and a
 * message late by minutes is usually worse than a failed task an operator can see and resubmit.
 */
const RETRY = { maxAttempts: 4, backoffSeconds: 1, maxBackoffSeconds: 30 };
const TIMEOUT_SECONDS = 30;

/** `comms`: sends email (SES), SMS (Twilio) and chat messages (Slack / Teams incoming webhooks). */
export const commsSpec: AgentSpec = builtinSpec(
  {
    id: "comms",
    kind: "comms",
    description: "Sends email through SES, SMS through Twilio and chat messages to Slack or Teams webhooks",
  },
  () => [
    {
      name: "send_email",
      description: "Sends one email from the configured sender (NEXUS_EMAIL_FROM); text, html or both",
      params: paramsSchemaOf(SendEmailParams),
      retry: RETRY,
      timeoutSeconds: TIMEOUT_SECONDS,
    },
    {
      name: "send_sms",
      description: "Sends one SMS to an E.164 number from the configured Twilio sender",
      params: paramsSchemaOf(SendSmsParams),
      retry: RETRY,
      timeoutSeconds: TIMEOUT_SECONDS,
    },
    {
      name: "post_chat",
      description: "Posts a message to a configured Slack or Teams channel (incoming webhook)",
      params: paramsSchemaOf(PostChatParams),
      retry: RETRY,
      timeoutSeconds: TIMEOUT_SECONDS,
    },
    Health.actionSpec(
      20,
      "Checks the provider configuration without sending anything: the email sender, the Twilio and chat secrets",
    ),
  ],
);
