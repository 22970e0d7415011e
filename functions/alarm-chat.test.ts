import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { alarmChat } from "@nexus/agents/alarm-chat";
import { secretsManager } from "@nexus/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSecrets } from "../packages/local/src/secrets-server.js";
import { CHAT_SECRET_NAME, startChatStandIn } from "../packages/local/src/standins/comms.js";
import type { StandIn } from "../packages/local/src/standins/types.js";

/**
 * The alarm chat function loaded the way Lambda loads it (its channel and secret from the stack's environment), fed
 * what SNS delivers from the alarm topic, posting to the local chat webhooks with the URLs from the local Secrets
 * Manager endpoint.
 */
let chat: StandIn;
let secrets: Awaited<ReturnType<typeof startSecrets>>;

const alarmMessage = (state: string, previous: string) =>
  JSON.stringify({
    AlarmName: "nexus-prod-agent-diag-dlq",
    AlarmDescription: "Tasks of agent diag were dead-lettered: see GET /v1/failures?agentId=diag.",
    NewStateValue: state,
    OldStateValue: previous,
    NewStateReason:
      "Threshold Crossed: 1 datapoint [1.0 (07/12/26 00:40:00)] was greater than or equal to the threshold (1.0).",
    StateChangeTime: "2026-12-07T00:41:07.123+0000",
    Region: "US East (N. Virginia)",
  });
const snsEvent = (...messages: string[]) => ({
  Records: messages.map((Message, i) => ({ Sns: { Message, MessageId: `m-${i}` } })),
});
let handler: (event: ReturnType<typeof snsEvent>) => Promise<void>;
const received = async () => {
  const reply = await fetch(`${chat.url}/received?hook=ops`);
  return ((await reply.json()) as { received: Array<{ body: { text: string } }> }).received.map((r) => r.body.text);
};

beforeAll(async () => {
  chat = await startChatStandIn({});
  secrets = await startSecrets({ secrets: chat.secrets });
  Object.assign(process.env, {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    NEXUS_CHAT_SECRET: CHAT_SECRET_NAME,
    NEXUS_ALARM_CHAT: "ops",
    POWERTOOLS_LOG_LEVEL: "SILENT",
  });
  ({ handler } = await import("./alarm-chat.js"));
});
afterAll(async () => {
  await secrets?.stop();
  await chat?.stop();
});

describe("the alarm chat function", () => {
  it("posts each alarm's change of state to its channel, state first, and skips what is not an alarm's", async () => {
    await handler(snsEvent(alarmMessage("ALARM", "OK"), "not json", JSON.stringify({ Type: "other" })));
    await handler(snsEvent(alarmMessage("OK", "ALARM")));
    const texts = await received();
    expect(texts).toHaveLength(2);
    expect(texts[0]).toMatch(/^\[ALARM\] nexus-prod-agent-diag-dlq \(was OK\) at 2026-12-07T00:41:07/);
    expect(texts[0]).toContain("Threshold Crossed");
    expect(texts[0]).toContain("GET /v1/failures?agentId=diag");
    expect(texts[1]).toMatch(/^\[OK\] nexus-prod-agent-diag-dlq \(was ALARM\)/);
  });

  it("fails when the webhook does, so that Lambda retries the notification", async () => {
    const broken = alarmChat({
      secrets: secretsManager(new SecretsManagerClient({ endpoint: secrets.endpoint })),
      secretName: CHAT_SECRET_NAME,
      channel: "broken",
    });
    await expect(
      broken.notify({ name: "n", state: "ALARM", reason: "r", at: "2026-12-07T00:00:00Z" }),
    ).rejects.toMatchObject({ code: "provider_unavailable" });
  });
});
