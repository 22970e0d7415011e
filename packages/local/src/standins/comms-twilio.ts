import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { keepRecent, listenLoopback, MAX_RECEIVED, readBody, sendJson } from "./comms-http.js";
import type { StandIn, StandInFactory } from "./types.js";

export const TWILIO_SECRET_NAME = "nexus/local/twilio";
/** Twilio's magic "from" number for test credentials: a valid, SMS-capable sender. */
export const TWILIO_FROM = "+15005550006";

/**
 * Recipients that make the stand-in fail the way Twilio does. The 1-5 and 9 numbers are Twilio's own magic
 * test numbers; 429 and 500 are this stand-in's (Twilio has no test number for them).
 */
export const TWILIO_TEST_NUMBERS = {
  invalid: "+15005550001",
  unroutable: "+15005550002",
  noInternational: "+15005550003",
  optedOut: "+15005550004",
  notMobile: "+15005550009",
  throttled: "+15005550429",
  serverError: "+15005550500",
} as const;

interface TwilioFailure {
  status: number;
  code: number;
  message: string;
}

const MAGIC: Record<string, TwilioFailure> = {
  [TWILIO_TEST_NUMBERS.invalid]: { status: 400, code: 21211, message: "Invalid 'To' Phone Number" },
  [TWILIO_TEST_NUMBERS.unroutable]: {
    status: 400,
    code: 21612,
    message: "The 'To' phone number is not currently reachable via SMS",
  },
  [TWILIO_TEST_NUMBERS.noInternational]: {
    status: 400,
    code: 21408,
    message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
  },
  [TWILIO_TEST_NUMBERS.optedOut]: {
    status: 400,
    code: 21610,
    message: "Attempt to send to unsubscribed recipient",
  },
  [TWILIO_TEST_NUMBERS.notMobile]: { status: 400, code: 21614, message: "'To' number is not a valid mobile number" },
  [TWILIO_TEST_NUMBERS.throttled]: { status: 429, code: 20429, message: "Too Many Requests" },
  [TWILIO_TEST_NUMBERS.serverError]: { status: 500, code: 20500, message: "An internal server error has occurred" },
};

const E164 = /^\+[1-9]\d{6,14}$/;
const MAX_BODY_CHARS = 1600;

export interface ReceivedSms {
  sid: string;
  accountSid: string;
  from: string | null;
  messagingServiceSid: string | null;
  to: string;
  body: string;
  status: "queued";
  numSegments: number;
  receivedAt: string;
}

/** SMS segments: 160 (153 when split) GSM-7 characters, or 70 (67) UTF-16 units for anything else. */
function segments(body: string): number {
  const gsm = /^[\n\r\x20-\x7e£¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà]*$/.test(body);
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  return body.length <= single ? 1 : Math.ceil(body.length / multi);
}

/** Twilio's date format (RFC 2822). */
const rfc2822 = (date: Date) => date.toUTCString().replace("GMT", "+0000");

function twilioError(res: ServerResponse, failure: TwilioFailure) {
  sendJson(res, failure.status, {
    code: failure.code,
    message: failure.message,
    more_info: `https://www.twilio.com/docs/errors/${failure.code}`,
    status: failure.status,
  });
}

/**
 * A stand-in for Twilio's Messages API (the part `client.messages.create` uses): `POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP basic auth with the credentials it
 * puts in the local secret; Twilio-shaped answers and errors. What it accepted is at `GET /messages` (the most recent
 * {@link MAX_RECEIVED}).
 */
export const startTwilioStandIn: StandInFactory = async () => {
  const accountSid = `AC${randomBytes(16).toString("hex")}`;
  const authToken = randomBytes(16).toString("hex");
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`;
  const received: ReceivedSms[] = [];
  const messagesPath = `/2010-04-01/Accounts/${accountSid}/Messages.json`;

  async function createMessage(req: IncomingMessage, res: ServerResponse) {
    const raw = await readBody(req, 64 * 1024);
    if (raw === undefined) return twilioError(res, { status: 413, code: 20001, message: "Request too large" });
    const form = new URLSearchParams(raw);
    const to = form.get("To");
    const from = form.get("From");
    const messagingServiceSid = form.get("MessagingServiceSid");
    const body = form.get("Body");
    if (!to) return twilioError(res, { status: 400, code: 21604, message: "A 'To' phone number is required." });
    if (!from && !messagingServiceSid) {
      return twilioError(res, { status: 400, code: 21603, message: "A 'From' phone number is required." });
    }
    if (from && from !== TWILIO_FROM) {
      return twilioError(res, {
        status: 400,
        code: 21606,
        message:
          "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination.",
      });
    }
    if (!body) return twilioError(res, { status: 400, code: 21602, message: "Message body is required." });
    if (body.length > MAX_BODY_CHARS) {
      return twilioError(res, {
        status: 400,
        code: 21617,
        message: "The concatenated message body exceeds the 1600 character limit.",
      });
    }
    if (!E164.test(to)) {
      return twilioError(res, {
        status: 400,
        code: 21211,
        message: `The 'To' number ${to} is not a valid phone number.`,
      });
    }
    const failure = MAGIC[to];
    if (failure) return twilioError(res, failure);

    const sid = `SM${randomBytes(16).toString("hex")}`;
    const now = new Date();
    const message: ReceivedSms = {
      sid,
      accountSid,
      from,
      messagingServiceSid,
      to,
      body,
      status: "queued",
      numSegments: segments(body),
      receivedAt: now.toISOString(),
    };
    keepRecent(received, message);
    sendJson(res, 201, {
      sid,
      account_sid: accountSid,
      api_version: "2010-04-01",
      body,
      date_created: rfc2822(now),
      date_updated: rfc2822(now),
      date_sent: null,
      direction: "outbound-api",
      error_code: null,
      error_message: null,
      from,
      messaging_service_sid: messagingServiceSid,
      num_media: "0",
      num_segments: String(message.numSegments),
      price: null,
      price_unit: "USD",
      status: "queued",
      subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
    });
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method === "GET" && path === "/messages") return sendJson(res, 200, { messages: received });
    if (req.method === "POST" && path.startsWith("/2010-04-01/Accounts/")) {
      if (req.headers.authorization !== expectedAuth) {
        req.resume();
        return twilioError(res, { status: 401, code: 20003, message: "Authenticate" });
      }
      if (path === messagesPath) {
        createMessage(req, res).catch(() => twilioError(res, { status: 500, code: 20500, message: "Internal error" }));
        return;
      }
    }
    req.resume();
    twilioError(res, { status: 404, code: 20404, message: `The requested resource ${path} was not found` });
  });
  const listening = await listenLoopback(server);

  const standIn: StandIn = {
    name: "twilio",
    url: listening.url,
    config: { NEXUS_TWILIO_SECRET: TWILIO_SECRET_NAME, NEXUS_TWILIO_BASE_URL: listening.url },
    secrets: { [TWILIO_SECRET_NAME]: JSON.stringify({ accountSid, authToken, from: TWILIO_FROM }) },
    describe: [`Twilio stand-in:    ${listening.url}  (sent SMS: ${listening.url}/messages)`],
    stop: listening.stop,
  };
  return standIn;
};
