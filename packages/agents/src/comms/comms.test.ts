import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ActionError, type Context, createLogger, RegisterAgentInput, type Secrets, validateParams } from "@nexus/core";
import twilio from "twilio";
import { afterEach, describe, expect, it } from "vitest";
import { ParamsSchemaSchema } from "../../../core/src/params-schema.js";
import { createChatPoster, slackPayload, teamsPayload } from "./chat.js";
import { ChatSecret, parseSender, readJsonSecret, TwilioSecret } from "./config.js";
import { createEmailSender } from "./email.js";
import { networkError, twilioError, webhookError } from "./errors.js";
import { comms } from "./handlers.js";
import { commsSpec, E164, EMAIL_ADDRESS, SendEmailParams } from "./spec.js";

const schemaOf = (name: string) => {
  const action = commsSpec.actions.find((a) => a.name === name);
  if (!action?.params) throw new Error(`no action ${name}`);
  return action.params;
};
const email = (over: Record<string, unknown> = {}) => ({
  to: ["alice@example.com"],
  subject: "Hello",
  text: "Hi",
  ...over,
});

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A loopback HTTP server for faults the stand-ins do not produce. */
async function faultServer(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const secretsOf = (values: Record<string, string>): Secrets => ({ get: async (name) => values[name] });

async function caught(promise: Promise<unknown>): Promise<ActionError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ActionError) return error;
    throw error;
  }
  throw new Error("expected a failure");
}

describe("comms spec", () => {
  it("registers: every action's params are in the registry's JSON-schema subset", () => {
    for (const action of commsSpec.actions) {
      const parsed = ParamsSchemaSchema.safeParse(action.params);
      expect(parsed.success, `${action.name}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
    const { id: _, ...rest } = commsSpec;
    expect(RegisterAgentInput.safeParse({ ...rest, name: commsSpec.id }).success).toBe(true);
    expect(commsSpec.actions.map((a) => a.name)).toEqual(["send_email", "send_sms", "post_chat", "health"]);
  });

  it("accepts valid params at the registry", () => {
    expect(validateParams(schemaOf("send_email"), email())).toEqual([]);
    expect(
      validateParams(
        schemaOf("send_email"),
        email({
          cc: ["b.c+tag@mail.example.org"],
          bcc: ["x@xn--bcher-kva.example"],
          replyTo: ["r@ex.io"],
          html: "<b>x</b>",
        }),
      ),
    ).toEqual([]);
    expect(validateParams(schemaOf("send_sms"), { to: "+14155550100", body: "hi" })).toEqual([]);
    expect(
      validateParams(schemaOf("post_chat"), { channel: "ops", text: "hi", blocks: [{ type: "divider" }] }),
    ).toEqual([]);
  });

  it.each([
    ["an address without a domain dot", email({ to: ["alice@localhost"] })],
    ["a display name", email({ to: ["Alice <alice@example.com>"] })],
    ["CRLF header injection in an address", email({ to: ["alice@example.com\r\nBcc: eve@evil.example"] })],
    ["LF in an address", email({ cc: ["alice@example.com\n"] })],
    ["CRLF in the subject", email({ subject: "Hi\r\nBcc: eve@evil.example" })],
    ["a tab in the subject", email({ subject: "a\tb" })],
    ["an empty subject", email({ subject: "" })],
    ["no recipient", email({ to: [] })],
    ["51 recipients in to", email({ to: Array.from({ length: 51 }, (_, i) => `u${i}@example.com`) })],
    ["an unknown field", email({ from: "boss@example.com" })],
    [
      "a 255-character address",
      email({ to: [`${"a".repeat(60)}@${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(70)}.com`] }),
    ],
  ])("refuses send_email with %s", (_, params) => {
    expect(validateParams(schemaOf("send_email"), params).length).toBeGreaterThan(0);
  });

  it.each([
    ["a national number", { to: "4155550100", body: "x" }],
    ["a leading zero country code", { to: "+04155550100", body: "x" }],
    ["spaces", { to: "+1 415 555 0100", body: "x" }],
    ["a trailing newline", { to: "+14155550100\n", body: "x" }],
    ["16 digits", { to: "+1234567890123456", body: "x" }],
    ["an empty body", { to: "+14155550100", body: "" }],
    ["a 1601-character body", { to: "+14155550100", body: "x".repeat(1601) }],
  ])("refuses send_sms with %s", (_, params) => {
    expect(validateParams(schemaOf("send_sms"), params).length).toBeGreaterThan(0);
  });

  it.each([
    ["an upper-case channel", { channel: "Ops", text: "x" }],
    ["a path in the channel", { channel: "../ops", text: "x" }],
    ["51 blocks", { channel: "ops", text: "x", blocks: Array.from({ length: 51 }, () => ({ type: "divider" })) }],
    ["a block that is not an object", { channel: "ops", text: "x", blocks: ["divider"] }],
    ["a 4001-character text", { channel: "ops", text: "x".repeat(4001) }],
  ])("refuses post_chat with %s", (_, params) => {
    expect(validateParams(schemaOf("post_chat"), params).length).toBeGreaterThan(0);
  });

  it("checks in zod what the registry cannot say: a body, and at most 50 recipients in all", () => {
    expect(validateParams(schemaOf("send_email"), { to: ["a@example.com"], subject: "s" })).toEqual([]);
    expect(SendEmailParams.safeParse({ to: ["a@example.com"], subject: "s" }).success).toBe(false);
    const many = Array.from({ length: 30 }, (_, i) => `u${i}@example.com`);
    expect(SendEmailParams.safeParse(email({ to: many, bcc: many })).success).toBe(false);
    expect(SendEmailParams.safeParse(email({ html: "<p>x</p>", text: undefined })).success).toBe(true);
  });
});

describe("address and number validation", () => {
  it.each([
    "a@example.com",
    "first.last+tag@sub.example.co.uk",
    "o'brien@example.ie",
    "x_y-z@example-domain.com",
    "user@xn--bcher-kva.example",
    `${"a".repeat(64)}@example.com`,
  ])("accepts %s", (address) => {
    expect(EMAIL_ADDRESS.test(address)).toBe(true);
  });

  it.each([
    "plain",
    "a@b",
    "@example.com",
    "a@",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@-example.com",
    "a@example-.com",
    "a@example..com",
    "a b@example.com",
    "a@example.com\n",
    "a@example.com\r\nBcc: eve@evil.example",
    "a@example.com,b@example.com",
    "a@[127.0.0.1]",
    "é@example.com",
    `${"a".repeat(65)}@example.com`,
  ])("refuses %j", (address) => {
    expect(EMAIL_ADDRESS.test(address)).toBe(false);
  });

  it("stays linear on hostile input", () => {
    const hostile = [`${"a.".repeat(30_000)}@`, `a@${"a-".repeat(30_000)}`, `${"a".repeat(60_000)}@x`];
    const started = performance.now();
    for (const input of hostile) EMAIL_ADDRESS.test(input);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("E.164", () => {
    for (const ok of ["+14155550100", "+442071838750", "+8613800138000", "+1234567"]) expect(E164.test(ok)).toBe(true);
    for (const bad of ["+123456", "14155550100", "+0123456789", "+1-415-555-0100", "+14155550100 "]) {
      expect(E164.test(bad)).toBe(false);
    }
  });

  it("takes the sender as an address or a display name and an address, and nothing else", () => {
    expect(parseSender("nexus@example.com")).toBe("nexus@example.com");
    expect(parseSender("Nexus Ops <ops@example.com>")).toBe('"Nexus Ops" <ops@example.com>');
    expect(parseSender('"Nexus" <ops@example.com>')).toBe('"Nexus" <ops@example.com>');
    for (const bad of ["", "nexus", "Nexus <ops@example.com>\r\nBcc: x@y.z", 'A"B <ops@example.com>', "<a@b>"]) {
      expect(() => parseSender(bad)).toThrowError(
        expect.objectContaining({ code: "not_configured", retriable: false }),
      );
    }
  });
});

describe("provider error mapping", () => {
  const rest = (statusCode: number, body: unknown) =>
    new twilio.RestException({ statusCode, body: JSON.stringify(body), headers: {} });

  it.each([
    [rest(400, { code: 21211, message: "Invalid 'To'" }), "invalid_recipient", false],
    [rest(400, { code: 21614, message: "not mobile" }), "invalid_recipient", false],
    [rest(400, { code: 21610, message: "unsubscribed" }), "recipient_opted_out", false],
    [rest(400, { code: 21606, message: "bad from" }), "sender_not_allowed", false],
    [rest(401, { code: 20003, message: "Authenticate" }), "provider_auth_failed", false],
    [rest(400, { code: 21999, message: "other" }), "provider_rejected", false],
    [rest(429, { code: 20429, message: "Too Many Requests" }), "throttled", true],
    [rest(503, "Service Unavailable"), "provider_unavailable", true],
    [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
      "provider_unavailable",
      true,
    ],
    [Object.assign(new Error("timeout of 20000ms exceeded"), { code: "ECONNABORTED" }), "provider_timeout", true],
  ])("Twilio %#", (error, code, retriable) => {
    expect(twilioError(error)).toMatchObject({ code, retriable });
  });

  it.each([
    [302, "provider_rejected", false],
    [400, "provider_rejected", false],
    [403, "provider_auth_failed", false],
    [404, "channel_gone", false],
    [410, "channel_gone", false],
    [408, "provider_unavailable", true],
    [429, "throttled", true],
    [500, "provider_unavailable", true],
    [503, "provider_unavailable", true],
  ])("webhook answering %i", (status, code, retriable) => {
    expect(webhookError("ops", status)).toMatchObject({ code, retriable });
  });

  it("names transport failures by their code only", () => {
    const failed = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("getaddrinfo ENOTFOUND hooks.example.com/services/T0/B0/secret"), {
        code: "ENOTFOUND",
      }),
    });
    const mapped = networkError("the webhook", failed);
    expect(mapped).toMatchObject({ code: "provider_unavailable", retriable: true });
    expect(mapped.message).toBe("the webhook could not be reached (ENOTFOUND)");
    expect(networkError("x", new DOMException("t", "TimeoutError"))).toMatchObject({ code: "provider_timeout" });
  });

  /** SES v1 answers errors as XML; the real SDK parses these, as it would AWS's. */
  const sesFault = (status: number, code: string, message: string) =>
    faultServer((req, res) => {
      req.resume();
      res.writeHead(status, { "content-type": "text/xml" });
      res.end(
        `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>${status >= 500 ? "Receiver" : "Sender"}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
      );
    });
  const sendVia = async (endpoint: string) =>
    caught(
      createEmailSender({ from: "n@example.com", endpoint, timeoutMs: 2000 }).send(SendEmailParams.parse(email())),
    );

  it.each([
    [400, "Throttling", "Maximum sending rate exceeded.", "throttled", true],
    [400, "MessageRejected", "Email address is not verified. a@example.com", "invalid_recipient", false],
    [400, "InvalidParameterValue", "Missing final '@domain'", "provider_rejected", false],
    [400, "InvalidParameterValue", "Illegal address", "invalid_recipient", false],
    [400, "MailFromDomainNotVerifiedException", "MX missing", "sender_not_allowed", false],
    [400, "AccountSendingPausedException", "paused", "not_configured", false],
    [403, "AccessDenied", "not authorized to perform ses:SendEmail", "provider_auth_failed", false],
    [500, "InternalFailure", "internal", "provider_unavailable", true],
    [503, "ServiceUnavailable", "unavailable", "provider_unavailable", true],
  ])("SES answering %i %s", async (status, sesCode, message, code, retriable) => {
    const error = await sendVia(await sesFault(status, sesCode, message));
    expect(error).toMatchObject({ code, retriable });
  });

  it("SES unreachable or silent → retriable", async () => {
    const closed = await faultServer((req) => req.socket.destroy());
    expect(await sendVia(closed)).toMatchObject({ code: "provider_unavailable", retriable: true });
    const silent = await faultServer(() => undefined);
    const started = Date.now();
    expect(await sendVia(silent)).toMatchObject({ code: "provider_timeout", retriable: true });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe("secrets", () => {
  const token = "0123456789abcdef0123456789abcdef";

  it("reads a Twilio secret and reports a bad one by field, never by value", async () => {
    const good = JSON.stringify({ accountSid: `AC${"a".repeat(32)}`, authToken: token, from: "+15005550006" });
    const bad = JSON.stringify({ accountSid: `XX${token}`, authToken: token });
    const secrets = secretsOf({ good, bad, text: `token=${token}` });
    const shape = "{…}";
    expect((await readJsonSecret(secrets, "S", "good", TwilioSecret, shape)).value.from).toBe("+15005550006");
    for (const name of ["bad", "text", "missing"]) {
      const error = await caught(readJsonSecret(secrets, "S", name, TwilioSecret, shape));
      expect(error).toMatchObject({ code: "not_configured", retriable: false });
      expect(error.message).not.toContain(token);
      expect(error.message).toContain(`'${name}'`);
    }
    const failing: Secrets = { get: async () => Promise.reject(new Error("throttled")) };
    expect(await caught(readJsonSecret(failing, "S", "good", TwilioSecret, shape))).toMatchObject({
      code: "secrets_unavailable",
      retriable: true,
    });
  });

  it("takes https webhooks (http only to this machine), without credentials in the URL", () => {
    const parse = (url: string) => ChatSecret.safeParse({ ops: { type: "slack", url } }).success;
    expect(parse("https://hooks.slack.com/services/T0/B0/x")).toBe(true);
    expect(parse("http://127.0.0.1:9/hooks/ops/x")).toBe(true);
    expect(parse("http://hooks.slack.com/services/T0/B0/x")).toBe(false);
    expect(parse("https://user:pw@hooks.slack.com/x")).toBe(false);
    expect(parse("file:///etc/passwd")).toBe(false);
    expect(ChatSecret.safeParse({ Ops: { type: "slack", url: "https://x.example" } }).success).toBe(false);
  });
});

describe("chat payloads and webhook calls", () => {
  it("builds Slack and Teams (Adaptive Card) messages", () => {
    expect(slackPayload("hi", undefined)).toEqual({ text: "hi" });
    expect(slackPayload("hi", [{ type: "divider" }])).toEqual({ text: "hi", blocks: [{ type: "divider" }] });
    const card = teamsPayload("hi", [{ type: "FactSet", facts: [] }]);
    expect(card.type).toBe("message");
    expect(card.attachments[0]?.contentType).toBe("application/vnd.microsoft.card.adaptive");
    expect(card.attachments[0]?.content.body).toEqual([
      { type: "TextBlock", text: "hi", wrap: true },
      { type: "FactSet", facts: [] },
    ]);
  });

  it("gives up on a silent webhook within its timeout, naming the channel and not the URL", async () => {
    const silent = await faultServer(() => undefined);
    const url = `${silent}/services/T0/B0/very-secret`;
    const poster = createChatPoster({
      secrets: secretsOf({ chat: JSON.stringify({ ops: { type: "slack", url } }) }),
      secretName: "chat",
      timeoutMs: 300,
    });
    const error = await caught(poster.post({ channel: "ops", text: "hi" }));
    expect(error).toMatchObject({ code: "provider_timeout", retriable: true });
    expect(error.message).toContain("'ops'");
    expect(error.message).not.toContain("very-secret");
    expect(error.message).not.toContain(silent);
  });
});

describe("configuration", () => {
  const handlersWith = (config: Record<string, string>, secrets: Record<string, string> = {}) =>
    comms.handlers({
      ctx: { secrets: secretsOf(secrets) } as unknown as Context,
      config,
      logger: createLogger("nexus-test", { level: "SILENT" }),
    });
  const context = { taskId: "tsk_1", attempt: 1, maxAttempts: 4, signal: new AbortController().signal };
  const call = (handlers: ReturnType<typeof handlersWith>, action: string, params: unknown) => {
    const handler = handlers[action];
    if (!handler) throw new Error(`no handler ${action}`);
    return caught(handler(params, context));
  };

  it("fails an action whose setting is missing, not retriable, and names the setting", async () => {
    const handlers = handlersWith({});
    expect(await call(handlers, "send_email", email())).toMatchObject({
      code: "not_configured",
      retriable: false,
      message: expect.stringContaining("NEXUS_EMAIL_FROM"),
    });
    expect(await call(handlers, "send_sms", { to: "+14155550100", body: "x" })).toMatchObject({
      code: "not_configured",
      message: expect.stringContaining("NEXUS_TWILIO_SECRET"),
    });
    expect(await call(handlers, "post_chat", { channel: "ops", text: "x" })).toMatchObject({
      code: "not_configured",
      message: expect.stringContaining("NEXUS_CHAT_SECRET"),
    });
  });

  it("sends Twilio credentials nowhere but https (or this machine)", async () => {
    const handlers = handlersWith({ NEXUS_TWILIO_SECRET: "t", NEXUS_TWILIO_BASE_URL: "http://twilio.example.com" });
    expect(await call(handlers, "send_sms", { to: "+14155550100", body: "x" })).toMatchObject({
      code: "not_configured",
      message: expect.stringContaining("NEXUS_TWILIO_BASE_URL"),
    });
  });

  it("refuses params the registry's looser schema let through, without retrying", async () => {
    const handlers = handlersWith({ NEXUS_EMAIL_FROM: "n@example.com" });
    expect(await call(handlers, "send_email", { to: ["a@example.com"], subject: "s" })).toMatchObject({
      code: "invalid_params",
      retriable: false,
    });
  });
});
