import { SESClient, SendEmailCommand } from "@aws-sdk/client-ses";
import { sesError } from "./errors.js";
import type { SendEmailParams } from "./spec.js";

export interface EmailSenderOptions {
  /** The `Source` of every message, as {@link parseSender} returns it. */
  from: string;
  region?: string;
  /** An SES-compatible endpoint (the local emulator); AWS's otherwise. */
  endpoint?: string;
  /** Per request; the action's own timeout is longer, so this error is the one reported. */
  timeoutMs?: number;
}

export interface EmailResult {
  messageId: string;
  to: string[];
  /** Recipients SES took the message for (to, cc and bcc): SES accepts a message whole or not at all. */
  accepted: number;
}

export interface EmailSender {
  send(params: SendEmailParams, signal?: AbortSignal): Promise<EmailResult>;
  destroy(): void;
}

/** Credentials for an emulator, which only checks that requests are signed. */
const EMULATOR_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };
const CHARSET = "UTF-8";

/** Email through SES `SendEmail` (v1 API). One SDK attempt per task attempt: the queue does the retrying. */
export function createEmailSender(options: EmailSenderOptions): EmailSender {
  const client = new SESClient({
    region: options.region ?? process.env.AWS_REGION ?? "us-east-1",
    maxAttempts: 1,
    // Without throwOnRequestTimeout, smithy only logs a warning when the request timeout passes.
    requestHandler: {
      connectionTimeout: 5000,
      requestTimeout: options.timeoutMs ?? 15_000,
      throwOnRequestTimeout: true,
    },
    ...(options.endpoint ? { endpoint: options.endpoint, credentials: EMULATOR_CREDENTIALS } : {}),
  });
  return {
    async send(params, signal) {
      const command = new SendEmailCommand({
        Source: options.from,
        Destination: {
          ToAddresses: params.to,
          ...(params.cc?.length ? { CcAddresses: params.cc } : {}),
          ...(params.bcc?.length ? { BccAddresses: params.bcc } : {}),
        },
        ...(params.replyTo?.length ? { ReplyToAddresses: params.replyTo } : {}),
        Message: {
          Subject: { Data: params.subject, Charset: CHARSET },
          Body: {
            ...(params.text === undefined ? {} : { Text: { Data: params.text, Charset: CHARSET } }),
            ...(params.html === undefined ? {} : { Html: { Data: params.html, Charset: CHARSET } }),
          },
        },
      });
      let messageId: string | undefined;
      try {
        ({ MessageId: messageId } = await client.send(command, signal ? { abortSignal: signal } : {}));
      } catch (error) {
        throw sesError(error);
      }
      if (!messageId)
        throw sesError({ name: "MissingMessageId", $fault: "server", $metadata: { httpStatusCode: 502 } });
      const accepted = params.to.length + (params.cc?.length ?? 0) + (params.bcc?.length ?? 0);
      return { messageId, to: params.to, accepted };
    },
    destroy: () => client.destroy(),
  };
}
