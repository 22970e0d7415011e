import type { Secrets } from "@nexus/core";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { fatal, retriable } from "./errors.js";
import { SENDER_FORMAT, splitSender } from "./sender.js";
import { CHANNEL, E164 } from "./spec.js";

/** The comms agent's settings (`NEXUS_*`: the function's environment in AWS, the stand-ins' locally). */
export const COMMS_CONFIG = {
  /** Sender of every email: `name@example.com` or `Display Name <name@example.com>`; an SES-verified identity. */
  emailFrom: "NEXUS_EMAIL_FROM",
  /** SES region when it differs from the function's (optional). */
  sesRegion: "NEXUS_SES_REGION",
  /** Local only: the SES emulator's endpoint. */
  sesEndpoint: "NEXUS_SES_ENDPOINT",
  /** Name (or ARN) of the Twilio secret: `{accountSid, authToken, from? , messagingServiceSid?}`. */
  twilioSecret: "NEXUS_TWILIO_SECRET",
  /** Local only: the Twilio stand-in's base URL (in place of https://api.twilio.com). */
  twilioBaseUrl: "NEXUS_TWILIO_BASE_URL",
  /** Name (or ARN) of the chat secret: `{"<channel>": {type: "slack" | "teams", url}}`. */
  chatSecret: "NEXUS_CHAT_SECRET",
} as const;

export type CommsConfig = Readonly<Record<string, string | undefined>>;

export function required(config: CommsConfig, name: string, purpose: string): string {
  const value = config[name]?.trim();
  if (!value) throw fatal("not_configured", `${name} is not set: the comms agent cannot ${purpose}`);
  return value;
}

export function optional(config: CommsConfig, name: string): string | undefined {
  return config[name]?.trim() || undefined;
}

/** The sender as SES takes it: the bare address, or a quoted ASCII display name and the address. */
export function parseSender(raw: string): string {
  const sender = splitSender(raw);
  if (!sender) throw fatal("not_configured", `${COMMS_CONFIG.emailFrom} must be ${SENDER_FORMAT}`);
  return sender.name ? `"${sender.name}" <${sender.address}>` : sender.address;
}

export const TwilioSecret = /* @__PURE__ */ pure(() =>
  z
    .object({
      accountSid: z.string().regex(/^AC[0-9a-fA-F]{32}$/),
      authToken: z.string().min(16).max(128),
      from: z.string().regex(E164).optional(),
      messagingServiceSid: z
        .string()
        .regex(/^MG[0-9a-fA-F]{32}$/)
        .optional(),
    })
    .refine((s) => s.from !== undefined || s.messagingServiceSid !== undefined, {
      message: "from or messagingServiceSid is required",
      path: ["from"],
    }),
);
export type TwilioSecret = z.output<typeof TwilioSecret>;

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * Where credentials or secret URLs may go: https, or plain http to this machine only (the local stand-ins);
 * no credentials in the URL itself.
 */
export function isSafeEndpoint(raw: string): boolean {
  if (!URL.canParse(raw)) return false;
  const url = new URL(raw);
  if (url.username || url.password) return false;
  return url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname));
}

const WebhookUrl = /* @__PURE__ */ pure(() => z.string().refine(isSafeEndpoint, "must be an https URL"));

export const ChatChannel = /* @__PURE__ */ pure(() => z.object({ type: z.enum(["slack", "teams"]), url: WebhookUrl }));
export type ChatChannel = z.output<typeof ChatChannel>;
export const ChatSecret = /* @__PURE__ */ pure(() => z.record(z.string().regex(CHANNEL), ChatChannel));
export type ChatSecret = z.output<typeof ChatSecret>;

/**
 * Reads and checks a JSON secret. Failures name the secret, the setting and the fields at fault, never a
 * value: the secret's content stays out of tasks and logs.
 */
export async function readJsonSecret<T>(
  secrets: Secrets,
  setting: string,
  name: string,
  schema: z.ZodType<T>,
  shape: string,
): Promise<{ raw: string; value: T }> {
  let raw: string | undefined;
  try {
    raw = await secrets.get(name);
  } catch {
    throw retriable("secrets_unavailable", `secret '${name}' (${setting}) could not be read`);
  }
  if (raw === undefined) throw fatal("not_configured", `secret '${name}' (${setting}) does not exist`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw fatal("not_configured", `secret '${name}' (${setting}) is not JSON; expected ${shape}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.map(String).join(".") || "(root)"))];
    throw fatal("not_configured", `secret '${name}' (${setting}) has invalid ${fields.join(", ")}; expected ${shape}`);
  }
  return { raw, value: parsed.data };
}
