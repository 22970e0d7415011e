import { ActionError, NonRetriableError } from "@nexus/core";

/**
 * The comms agent's error codes. Retriable: `throttled`, `provider_unavailable`, `provider_timeout`,
 * `secrets_unavailable`. Not retriable: the rest. Messages are written here, from codes and statuses only:
 * a provider's raw error (its request config holds credentials, a webhook URL is itself a secret) never
 * reaches a task, a log line or a cause.
 */
export type CommsErrorCode =
  | "throttled"
  | "provider_unavailable"
  | "provider_timeout"
  | "secrets_unavailable"
  | "invalid_params"
  | "invalid_recipient"
  | "recipient_opted_out"
  | "provider_rejected"
  | "provider_auth_failed"
  | "sender_not_allowed"
  | "channel_gone"
  | "unknown_channel"
  | "not_configured";

export const retriable = (code: CommsErrorCode, message: string) => new ActionError(code, message, { retriable: true });
export const fatal = (code: CommsErrorCode, message: string) => new NonRetriableError(code, message);

interface Network {
  code?: unknown;
  name?: unknown;
  cause?: unknown;
}

/** A transport failure (refused, reset, DNS, timeout) → retriable, named by its error code only. */
export function networkError(provider: string, error: unknown): ActionError {
  const e = (error ?? {}) as Network;
  const cause = (e.cause ?? {}) as Network;
  const name = String(e.name ?? "");
  const code = [e.code, cause.code].find((c): c is string => typeof c === "string" && /^[A-Z_]{2,40}$/.test(c));
  // The code wins over the name: the AWS SDK names a reset connection "TimeoutError" too.
  const timedOut = code
    ? code === "ECONNABORTED" || code === "ETIMEDOUT"
    : name === "TimeoutError" || name === "AbortError";
  if (timedOut) return retriable("provider_timeout", `${provider} did not answer in time`);
  return retriable("provider_unavailable", `${provider} could not be reached${code ? ` (${code})` : ""}`);
}

interface SesLike {
  name?: unknown;
  message?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const SES_THROTTLING = new Set([
  "Throttling",
  "ThrottlingException",
  "TooManyRequests",
  "TooManyRequestsException",
  "LimitExceededException",
]);
const SES_SENDER = new Set([
  "MailFromDomainNotVerified",
  "MailFromDomainNotVerifiedException",
  "FromEmailAddressNotVerifiedException",
]);
const SES_CONFIG = new Set([
  "AccountSendingPausedException",
  "ConfigurationSetDoesNotExist",
  "ConfigurationSetDoesNotExistException",
  "ConfigurationSetSendingPausedException",
]);
const SES_AUTH = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "UnrecognizedClientException",
]);

/** SES's message, kept short and on one line: it names addresses and identities, never credentials. */
function sesDetail(error: SesLike): string {
  const text = typeof error.message === "string" ? error.message.replace(/\s+/g, " ").trim() : "";
  return text ? `: ${text.slice(0, 300)}` : "";
}

/** Maps an SES (SDK v3) failure. */
export function sesError(error: unknown): ActionError {
  if (error instanceof ActionError) return error;
  const e = (error ?? {}) as SesLike;
  const name = typeof e.name === "string" ? e.name : "";
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  if (status === undefined) return networkError("SES", error);
  if (SES_THROTTLING.has(name) || status === 429) return retriable("throttled", `SES throttled the request (${name})`);
  if (e.$fault === "server" || status >= 500) return retriable("provider_unavailable", `SES failed (HTTP ${status})`);
  if (name === "MessageRejected") {
    // SES says why in the message (an unverified address in the sandbox, a suppressed or malformed recipient…).
    return fatal("invalid_recipient", `SES rejected the message${sesDetail(e)}`);
  }
  if (name === "InvalidParameterValue" && /address/i.test(String(e.message ?? ""))) {
    return fatal("invalid_recipient", `SES refused an address${sesDetail(e)}`);
  }
  if (SES_SENDER.has(name)) return fatal("sender_not_allowed", `SES cannot send from the sender (${name})`);
  if (SES_CONFIG.has(name)) return fatal("not_configured", `SES sending is not possible (${name})`);
  if (SES_AUTH.has(name) || status === 401 || status === 403) {
    return fatal("provider_auth_failed", `SES refused the agent's credentials (${name || status})`);
  }
  return fatal("provider_rejected", `SES refused the request (${name || "HTTP"} ${status})`);
}

interface TwilioLike {
  status?: unknown;
  code?: unknown;
}

/** Twilio error codes that mean "this recipient cannot get this message". */
const TWILIO_RECIPIENT: Record<number, string> = {
  21211: "is not a valid phone number",
  21214: "is not a reachable phone number",
  21217: "is not a valid phone number",
  21408: "is in a region the account may not send to",
  21612: "cannot be reached from the sender",
  21614: "is not a mobile number",
};
const TWILIO_SENDER = new Set([21212, 21606, 21659, 21660, 21661, 21703, 21704]);

/** Maps a Twilio client failure: a RestException (`status`, `code`) or a transport error. */
export function twilioError(error: unknown): ActionError {
  if (error instanceof ActionError) return error;
  const e = (error ?? {}) as TwilioLike;
  if (typeof e.status !== "number") return networkError("Twilio", error);
  const status = e.status;
  const code = typeof e.code === "number" ? e.code : undefined;
  const ref = code === undefined ? `HTTP ${status}` : `code ${code}`;
  if (status === 429 || code === 20429) return retriable("throttled", `Twilio throttled the request (${ref})`);
  if (status >= 500)
    return retriable("provider_unavailable", `Twilio failed (HTTP ${status}${code ? `, code ${code}` : ""})`);
  const recipient = code === undefined ? undefined : TWILIO_RECIPIENT[code];
  if (recipient) return fatal("invalid_recipient", `the recipient ${recipient} (Twilio code ${code})`);
  if (code === 21610)
    return fatal("recipient_opted_out", "the recipient has opted out of messages from the sender (Twilio code 21610)");
  if (code !== undefined && TWILIO_SENDER.has(code)) {
    return fatal("sender_not_allowed", `the configured sender cannot send this message (Twilio code ${code})`);
  }
  if (status === 401 || status === 403 || code === 20003) {
    return fatal("provider_auth_failed", `Twilio refused the credentials (${ref})`);
  }
  return fatal("provider_rejected", `Twilio refused the message (HTTP ${status}${code ? `, code ${code}` : ""})`);
}

/**
 * Maps a webhook's answer. `detail` is the answer's body when it is a short error slug (Slack answers
 * `invalid_blocks`, `channel_is_archived`, …); the URL is never named, only the channel.
 */
export function webhookError(channel: string, status: number, detail?: string): ActionError {
  const what = `the webhook of channel '${channel}' answered ${status}${detail ? ` (${detail})` : ""}`;
  if (status === 429) return retriable("throttled", what);
  if (status === 408 || status >= 500) return retriable("provider_unavailable", what);
  if (status >= 300 && status < 400) {
    return fatal("provider_rejected", `${what}: a redirect, which is not followed; check the webhook URL`);
  }
  if (status === 404 || status === 410) return fatal("channel_gone", what);
  if (status === 401 || status === 403) return fatal("provider_auth_failed", what);
  return fatal("provider_rejected", what);
}
