import { type LocalNexus, startLocal } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comms } from "../../packages/agents/src/comms/handlers.js";
import {
  CHAT_SECRET_NAME,
  commsStandIns,
  LOCAL_EMAIL_FROM,
  TWILIO_FROM,
  TWILIO_SECRET_NAME,
  TWILIO_TEST_NUMBERS,
} from "../../packages/local/src/standins/comms.js";
import { apiClient, type Json } from "../support/client.js";

let nexus: LocalNexus;
let api: ReturnType<typeof apiClient>;

const SETTINGS = { rateLimitPerMinute: 1_000_000 };

beforeAll(async () => {
  nexus = await startLocal({
    port: 0,
    logLevel: "SILENT",
    agents: [comms],
    standIns: commsStandIns,
    settings: SETTINGS,
  });
  api = apiClient(nexus.url, nexus.adminKey);
});
afterAll(async () => {
  await nexus?.stop();
});

const unique = (base: string) => `${base} ${Math.random().toString(36).slice(2, 10)}`;

function standIn(name: string) {
  const found = nexus.standIns[name];
  if (!found) throw new Error(`stand-in ${name} is not running`);
  return found;
}

async function getJson(url: string): Promise<Json> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return response.json();
}

async function submit(action: string, params: unknown) {
  const reply = await api.post("/v1/tasks", { agentId: "comms", action, params });
  expect(reply.status, JSON.stringify(reply.body)).toBe(202);
  return reply.body.id as string;
}

async function run(action: string, params: unknown, timeoutMs?: number) {
  return api.waitForTask(await submit(action, params), undefined, timeoutMs);
}

// Independent tasks on one runtime: they run side by side (the retry drill alone takes ~10 s of backoff).
describe.concurrent("comms through the whole path (API → queue → agent → stand-in)", () => {
  it("retries throttling and server errors with backoff, then fails with a retriable error", async () => {
    const [throttled, broken, chatBroken, chatThrottled] = await Promise.all([
      run("send_sms", { to: TWILIO_TEST_NUMBERS.throttled, body: "x" }, 40_000),
      run("send_sms", { to: TWILIO_TEST_NUMBERS.serverError, body: "x" }, 40_000),
      run("post_chat", { channel: "broken", text: "x" }, 40_000),
      run("post_chat", { channel: "throttled", text: "x" }, 40_000),
    ]);
    for (const [task, code] of [
      [throttled, "throttled"],
      [broken, "provider_unavailable"],
      [chatBroken, "provider_unavailable"],
      [chatThrottled, "throttled"],
    ] as const) {
      expect(task.status).toBe("failed");
      expect(task.attempts).toBe(4);
      expect(task.error).toMatchObject({ code, retriable: true });
      const failures = task.events.filter((e: { type: string }) => e.type === "attempt_failed");
      expect(failures).toHaveLength(4);
      expect(failures[0].retryInSeconds).toBeGreaterThanOrEqual(1);
    }
    expect(throttled.error.message).toContain("20429");
  });

  it("registers comms as a built-in agent with its three actions and health", async () => {
    const reply = await api.get("/v1/agents/comms");
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: "comms", kind: "comms", builtin: true, status: "active" });
    expect(reply.body.actions.map((a: { name: string }) => a.name)).toEqual([
      "send_email",
      "send_sms",
      "post_chat",
      "health",
    ]);
    for (const name of ["ses", "twilio", "chat"]) {
      const { url, describe: lines } = standIn(name);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(lines.join("\n")).toContain(url);
    }
  });

  it("sends an email that lands in the SES emulator's store", async () => {
    const subject = unique("Quarterly report");
    const task = await run("send_email", {
      to: ["alice@example.com", "bob@example.org"],
      cc: ["carol@example.net"],
      bcc: ["dave@example.com"],
      replyTo: ["ops@example.com"],
      subject,
      text: "Plain body ✓",
      html: "<p>HTML body ✓</p>",
    });
    expect(task.status, JSON.stringify(task.error)).toBe("succeeded");
    expect(task.attempts).toBe(1);
    expect(task.result).toEqual({
      messageId: expect.any(String),
      to: ["alice@example.com", "bob@example.org"],
      accepted: 4,
    });
    const store = await getJson(`${standIn("ses").url}/store`);
    const mail = store.emails.find((e: { subject: string }) => e.subject === subject);
    expect(mail).toMatchObject({
      messageId: task.result.messageId,
      from: `"Nexus" <nexus@nexus.localhost>`,
      destination: {
        to: ["alice@example.com", "bob@example.org"],
        cc: ["carol@example.net"],
        bcc: ["dave@example.com"],
      },
      replyTo: ["ops@example.com"],
      body: { text: "Plain body ✓", html: "<p>HTML body ✓</p>" },
    });
    expect(LOCAL_EMAIL_FROM).toContain("nexus@nexus.localhost");
    const viewer = await fetch(`${standIn("ses").url}/`);
    expect(viewer.status).toBe(200);
    expect(viewer.headers.get("content-type")).toContain("text/html");
    await viewer.body?.cancel();
  });

  it("sends an SMS that the Twilio stand-in received", async () => {
    const body = unique("Your code is 1234");
    const task = await run("send_sms", { to: "+14155550100", body });
    expect(task.status, JSON.stringify(task.error)).toBe("succeeded");
    expect(task.result).toEqual({
      sid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      status: "queued",
      to: "+14155550100",
      segments: 1,
    });
    const { messages } = await getJson(`${standIn("twilio").url}/messages`);
    expect(messages).toContainEqual(
      expect.objectContaining({ sid: task.result.sid, to: "+14155550100", from: TWILIO_FROM, body, status: "queued" }),
    );
  });

  it("posts to a Slack channel and to a Teams channel", async () => {
    const slackText = unique("Deploy finished");
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "*done*" } }];
    const teamsText = unique("Disk almost full");
    const [slack, teams] = await Promise.all([
      run("post_chat", { channel: "ops", text: slackText, blocks }),
      run("post_chat", { channel: "alerts", text: teamsText }),
    ]);
    expect(slack.status, JSON.stringify(slack.error)).toBe("succeeded");
    expect(slack.result).toEqual({ channel: "ops", type: "slack", status: 200 });
    expect(teams.status, JSON.stringify(teams.error)).toBe("succeeded");
    expect(teams.result).toEqual({ channel: "alerts", type: "teams", status: 200 });

    const chat = standIn("chat").url;
    const ops = (await getJson(`${chat}/received?hook=ops`)).received;
    expect(ops).toContainEqual(expect.objectContaining({ body: { text: slackText, blocks } }));
    const alerts = (await getJson(`${chat}/received?hook=alerts`)).received;
    const card = alerts.find((r: Json) => r.body.attachments?.[0]?.content?.body?.[0]?.text === teamsText);
    expect(card.body).toMatchObject({
      type: "message",
      attachments: [
        {
          contentType: "application/vnd.microsoft.card.adaptive",
          content: { type: "AdaptiveCard", body: [{ type: "TextBlock", text: teamsText, wrap: true }] },
        },
      ],
    });
  });

  it.each([
    ["send_email", { to: ["alice@example.com\r\nBcc: eve@evil.example"], subject: "x", text: "x" }, "params.to.0"],
    ["send_email", { to: ["Alice <alice@example.com>"], subject: "x", text: "x" }, "params.to.0"],
    ["send_email", { to: ["alice@example.com"], cc: ["not-an-address"], subject: "x", text: "x" }, "params.cc.0"],
    ["send_email", { to: ["alice@example.com"], subject: "Hi\r\nBcc: eve@evil.example", text: "x" }, "params.subject"],
    ["send_email", { to: [], subject: "x", text: "x" }, "params.to"],
    ["send_sms", { to: "4155550100", body: "x" }, "params.to"],
    ["send_sms", { to: "+14155550100\n", body: "x" }, "params.to"],
    ["send_sms", { to: "+14155550100", body: "x".repeat(1601) }, "params.body"],
    ["post_chat", { channel: "../ops", text: "x" }, "params.channel"],
    ["post_chat", { channel: "ops", text: "x", webhook: "https://evil.example" }, "params"],
  ])("refuses %s with bad params at the API (%#)", async (action, params, path) => {
    const reply = await api.post("/v1/tasks", { agentId: "comms", action, params });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("validation_error");
    expect(reply.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  it("fails an email without a body at once (the one rule only the agent checks)", async () => {
    const task = await run("send_email", { to: ["alice@example.com"], subject: "no body" });
    expect(task.status).toBe("failed");
    expect(task.attempts).toBe(1);
    expect(task.error).toMatchObject({ code: "invalid_params", retriable: false });
    expect(task.error.message).toContain("params.text");
  });

  it.each([
    [TWILIO_TEST_NUMBERS.invalid, "invalid_recipient"],
    [TWILIO_TEST_NUMBERS.notMobile, "invalid_recipient"],
    [TWILIO_TEST_NUMBERS.optedOut, "recipient_opted_out"],
  ])("fails an SMS to %s after one attempt: %s", async (to, code) => {
    const task = await run("send_sms", { to, body: "hello" });
    expect(task.status).toBe("failed");
    expect(task.attempts).toBe(1);
    expect(task.error).toMatchObject({ code, retriable: false });
  });

  it("fails chat posts to unknown, gone and redirecting channels at once, without following the redirect", async () => {
    const movedText = unique("must not arrive");
    const [unknown, gone, moved] = await Promise.all([
      run("post_chat", { channel: "nowhere", text: "x" }),
      run("post_chat", { channel: "gone", text: "x" }),
      run("post_chat", { channel: "moved", text: movedText }),
    ]);
    expect(unknown).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "unknown_channel", retriable: false },
    });
    expect(unknown.error.message).toContain("'nowhere'");
    expect(gone).toMatchObject({ status: "failed", attempts: 1, error: { code: "channel_gone", retriable: false } });
    expect(gone.error.message).toContain("no_service");
    expect(moved).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "provider_rejected", retriable: false },
    });
    const ops = (await getJson(`${standIn("chat").url}/received?hook=ops`)).received;
    expect(JSON.stringify(ops)).not.toContain(movedText);
  });
});

describe("comms keeps its secrets", () => {
  // After the block above: it reads every task those tests left, failed ones included.
  it("never puts a credential or a webhook URL into a task", async () => {
    const twilio = JSON.parse(standIn("twilio").secrets[TWILIO_SECRET_NAME] ?? "{}");
    const chat = JSON.parse(standIn("chat").secrets[CHAT_SECRET_NAME] ?? "{}") as Record<string, { url: string }>;
    const secrets = [twilio.authToken, ...Object.values(chat).flatMap(({ url }) => [url, new URL(url).pathname])];
    expect(secrets.length).toBeGreaterThan(2);
    const tasks: Json[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.get(`/v1/tasks?agentId=comms&limit=100${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      tasks.push(...page.body.items);
      cursor = page.body.nextCursor ?? undefined;
    } while (cursor);
    expect(tasks.length).toBeGreaterThan(10);
    expect(tasks.some((t) => t.status === "failed")).toBe(true);
    for (const { id } of tasks) {
      const text = JSON.stringify((await api.get(`/v1/tasks/${id}`)).body);
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });
});

describe("daily caps apply to comms", () => {
  let capped: LocalNexus;

  beforeAll(async () => {
    capped = await startLocal({
      port: 0,
      logLevel: "SILENT",
      agents: [comms],
      standIns: commsStandIns,
      settings: { ...SETTINGS, dailyCaps: { "comms.send_sms": 1 } },
    });
  });
  afterAll(async () => {
    await capped?.stop();
  });

  it("refuses the second SMS of the day with a 429", async () => {
    const client = apiClient(capped.url, capped.adminKey);
    const first = await client.post("/v1/tasks", {
      agentId: "comms",
      action: "send_sms",
      params: { to: "+14155550100", body: "1" },
    });
    expect(first.status).toBe(202);
    const second = await client.post("/v1/tasks", {
      agentId: "comms",
      action: "send_sms",
      params: { to: "+14155550100", body: "2" },
    });
    expect(second.status).toBe(429);
    expect(second.body.error.code).toBe("daily_cap_reached");
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(0);
    const email = await client.post("/v1/tasks", {
      agentId: "comms",
      action: "send_email",
      params: { to: ["a@example.com"], subject: "uncapped", text: "x" },
    });
    expect(email.status).toBe(202);
    expect((await client.waitForTask(first.body.id)).status).toBe("succeeded");
  });
});
