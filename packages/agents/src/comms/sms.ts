import type { Secrets } from "@nexus/core";
import type { Twilio } from "twilio";
import { COMMS_CONFIG, readJsonSecret, TwilioSecret } from "./config.js";
import { twilioError } from "./errors.js";
import type { SendSmsParams } from "./spec.js";

export interface SmsSenderOptions {
  secrets: Secrets;
  /** Name (or ARN) of the Twilio secret. */
  secretName: string;
  /** In place of https://api.twilio.com (the local stand-in). */
  baseUrl?: string;
  timeoutMs?: number;
}

export interface SmsResult {
  sid: string;
  status: string;
  to: string;
  segments: number;
}

export interface SmsSender {
  send(params: SendSmsParams): Promise<SmsResult>;
}

const SHAPE = "{accountSid, authToken, from | messagingServiceSid}";

/**
 * SMS through Twilio's Messages API with the official client. The secret is read on every send (the
 * secrets provider caches it), and the client is rebuilt when the secret changes, so a rotation needs no
 * redeploy.
 */
export function createSmsSender(options: SmsSenderOptions): SmsSender {
  let cached: { raw: string; client: Twilio } | undefined;

  async function clientFor(raw: string, secret: TwilioSecret): Promise<Twilio> {
    if (cached?.raw === raw) return cached.client;
    // Loaded on first use: the Twilio client is large, and most tasks of a cold start are not SMS.
    const { default: twilio } = await import("twilio");
    const client = twilio(secret.accountSid, secret.authToken, { timeout: options.timeoutMs ?? 15_000 });
    if (options.baseUrl) client.api.baseUrl = options.baseUrl;
    cached = { raw, client };
    return client;
  }

  return {
    async send(params) {
      const { raw, value: secret } = await readJsonSecret(
        options.secrets,
        COMMS_CONFIG.twilioSecret,
        options.secretName,
        TwilioSecret,
        SHAPE,
      );
      const client = await clientFor(raw, secret);
      const sender = secret.messagingServiceSid
        ? { messagingServiceSid: secret.messagingServiceSid }
        : { from: secret.from ?? "" };
      try {
        const message = await client.messages.create({ to: params.to, body: params.body, ...sender });
        return {
          sid: message.sid,
          status: message.status,
          to: message.to,
          segments: Number.parseInt(message.numSegments, 10) || 1,
        };
      } catch (error) {
        throw twilioError(error);
      }
    },
  };
}
