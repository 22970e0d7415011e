import { SESClient, SendEmailCommand } from "@aws-sdk/client-ses";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CHAT_SECRET_NAME,
  startChatStandIn,
  startSesStandIn,
  startTwilioStandIn,
  TWILIO_FROM,
  TWILIO_SECRET_NAME,
} from "../packages/local/src/standins/comms.js";
import { MAX_RECEIVED } from "../packages/local/src/standins/comms-http.js";
import type { StandIn } from "../packages/local/src/standins/types.js";

/**
 * The comms stand-ins keep what they received for people and tests to look at, the most recent messages only: a
 * long-running `npm run dev` does not hold every email, SMS and chat message its agents ever sent.
 */
const SENT = MAX_RECEIVED + 5;
let chat: StandIn;
let twilio: StandIn;
let ses: StandIn;

beforeAll(async () => {
  [chat, twilio, ses] = await Promise.all([startChatStandIn({}), startTwilioStandIn({}), startSesStandIn({})]);
});
afterAll(async () => {
  await Promise.all([chat?.stop(), twilio?.stop(), ses?.stop()]);
});

/** Runs `send(i)` for i in [0, SENT), a few at a time, in order of i per lane. */
async function sendAll(send: (i: number) => Promise<void>) {
  const lanes = 8;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < SENT; i += lanes) await send(i);
    }),
  );
}

describe("the comms stand-ins", () => {
  it(`keep the most recent ${MAX_RECEIVED} chat messages`, async () => {
    const hook = (JSON.parse(chat.secrets[CHAT_SECRET_NAME] ?? "{}") as Record<string, { url: string }>).ops?.url ?? "";
    await sendAll(async (i) => {
      const reply = await fetch(hook, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: `message ${i}` }),
      });
      expect(reply.status).toBe(200);
    });
    const { received } = (await (await fetch(`${chat.url}/received`)).json()) as {
      received: Array<{ body: { text: string } }>;
    };
    expect(received).toHaveLength(MAX_RECEIVED);
    const texts = new Set(received.map((r) => r.body.text));
    // The ones sent last are all there (each lane sends in order, so the last of every lane is among the kept).
    for (let i = SENT - 8; i < SENT; i++) expect(texts.has(`message ${i}`)).toBe(true);
  });

  it(`keep the most recent ${MAX_RECEIVED} SMS`, async () => {
    const { accountSid, authToken } = JSON.parse(twilio.secrets[TWILIO_SECRET_NAME] ?? "{}") as Record<string, string>;
    const auth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`;
    await sendAll(async (i) => {
      const reply = await fetch(`${twilio.url}/2010-04-01/Accounts/${accountSid}/Messages.json`, {
        method: "POST",
        headers: { authorization: auth, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ To: "+15005550010", From: TWILIO_FROM, Body: `sms ${i}` }).toString(),
      });
      expect(reply.status).toBe(201);
    });
    const { messages } = (await (await fetch(`${twilio.url}/messages`)).json()) as {
      messages: Array<{ body: string }>;
    };
    expect(messages).toHaveLength(MAX_RECEIVED);
    const bodies = new Set(messages.map((m) => m.body));
    for (let i = SENT - 8; i < SENT; i++) expect(bodies.has(`sms ${i}`)).toBe(true);
  });

  it(`keep the most recent ${MAX_RECEIVED} emails`, async () => {
    const client = new SESClient({
      region: "us-east-1",
      endpoint: ses.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      await sendAll(async (i) => {
        await client.send(
          new SendEmailCommand({
            Source: "nexus@nexus.localhost",
            Destination: { ToAddresses: ["ops@example.com"] },
            Message: { Subject: { Data: `email ${i}` }, Body: { Text: { Data: "body" } } },
          }),
        );
      });
    } finally {
      client.destroy();
    }
    const { emails } = (await (await fetch(`${ses.url}/store`)).json()) as { emails: Array<{ subject: string }> };
    expect(emails).toHaveLength(MAX_RECEIVED);
    const subjects = new Set(emails.map((e) => e.subject));
    for (let i = SENT - 8; i < SENT; i++) expect(subjects.has(`email ${i}`)).toBe(true);
  });
});
