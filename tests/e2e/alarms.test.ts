import { setTimeout as sleep } from "node:timers/promises";
import { diag } from "@nexus/agents/diag";
import * as Alarms from "@nexus/core/alarms";
import type { AlarmChange } from "@nexus/local";
import { describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

/** Periods 60× shorter than in AWS: a 1-minute period is 1 s, a 5-minute one 5 s. */
const PERIOD_SCALE = 1 / 60;
const changes: AlarmChange[] = [];
const local = useLocalNexus({
  agents: [diag],
  // The failures inbox takes dead letters only when the test says (ingestFailures), so the DLQ holds them till then.
  failureIngestIntervalMs: 600_000,
  alarms: {
    intervalMs: 100,
    periodScale: PERIOD_SCALE,
    // An override: the failure rate alarm fires over 50 % (default 20) with at least 3 tasks (default 5).
    settings: {
      ...Alarms.DEFAULT_ALARM_SETTINGS,
      failureRatePercent: 50,
      failureRateMinTasks: 3,
    },
    onChange: (change) => changes.push(change),
    // Posted to the local chat stand-in's "ops" webhook, as the alarm chat function posts in AWS.
    chatChannel: "ops",
  },
});

const alarmOf = (body: Json, key: string) => body.items.find((a: Json) => a.key === key);
const waitForState = (key: string, state: string, timeoutMs = 15_000) =>
  local.api.waitUntil("/v1/alarms", (body) => alarmOf(body, key)?.state === state, timeoutMs);

async function failedTask(): Promise<string> {
  const submitted = await local.api.post("/v1/tasks", {
    agentId: "diag",
    action: "fail",
    params: { times: 5, retriable: false },
  });
  expect(submitted.status).toBe(202);
  return submitted.body.id;
}

describe("local alarms", () => {
  it("lists the stack's alarms for each agent and the API with their state, reason, since and setting", async () => {
    const body = await waitForState("agent-diag-dlq", "OK");
    expect(body.source).toBe("local");
    const keys = body.items.map((a: Json) => a.key);
    for (const key of [
      "agent-diag-dlq",
      "agent-diag-queue-age",
      "agent-diag-failure-rate",
      "agent-diag-offline",
      "api-5xx",
      "api-p99-latency",
      "plan-runs-failed",
    ]) {
      expect(keys).toContain(key);
    }
    // AWS-only metrics (Lambda, SES, EventBridge) are not judged locally.
    expect(keys.some((k: string) => k.endsWith("-errors") || k.startsWith("ses-"))).toBe(false);
    expect(alarmOf(body, "agent-diag-failure-rate")).toMatchObject({
      group: "agent",
      agentId: "diag",
      threshold: 50,
      comparison: "GreaterThanThreshold",
      setting: "failureRatePercent",
      periodSeconds: 300,
    });
    expect(alarmOf(body, "agent-diag-queue-age")).toMatchObject({ threshold: 15 * 60, setting: "queueAgeMinutes" });
    expect(Date.parse(alarmOf(body, "agent-diag-dlq").since)).not.toBeNaN();
  });

  it("fires the diag DLQ alarm when a diag.fail task is dead-lettered, and returns to OK once the inbox takes it (told in chat)", async () => {
    await waitForState("agent-diag-dlq", "OK");
    const id = await failedTask();
    expect((await local.api.waitForTask(id)).status).toBe("failed");

    const firing = alarmOf(await waitForState("agent-diag-dlq", "ALARM"), "agent-diag-dlq");
    expect(firing.reason).toContain(">= 1");
    expect(firing.value).toBeGreaterThanOrEqual(1);
    expect(changes).toContainEqual(expect.objectContaining({ key: "agent-diag-dlq", to: "ALARM" }));

    // The failure is in the inbox since the task failed; the ingestion pass takes its copy out of the DLQ (it records
    // nothing twice), and the failure stays open in the inbox.
    expect(await local.nexus.ingestFailures()).toBe(0);
    const ok = alarmOf(await waitForState("agent-diag-dlq", "OK"), "agent-diag-dlq");
    expect(Date.parse(ok.since)).toBeGreaterThan(Date.parse(firing.since));
    expect(changes).toContainEqual(expect.objectContaining({ key: "agent-diag-dlq", from: "ALARM", to: "OK" }));
    const inbox = await local.api.get("/v1/failures?agentId=diag");
    expect(inbox.body.items.map((f: Json) => f.taskId)).toContain(id);

    // Posted as each change happens, without holding the evaluation up: wait for the second.
    let texts: string[] = [];
    for (let tries = 0; tries < 50 && texts.length < 2; tries++) {
      const posted = await fetch(`${local.nexus.standIns.chat?.url}/received?hook=ops`);
      texts = ((await posted.json()) as Json).received.map((r: Json) => r.body.text);
      if (texts.length < 2) await sleep(100);
    }
    expect(texts).toContainEqual(expect.stringMatching(/^\[ALARM\] nexus-local-agent-diag-dlq \(was OK\)/));
    expect(texts).toContainEqual(expect.stringMatching(/^\[OK\] nexus-local-agent-diag-dlq \(was ALARM\)/));
  });

  it("fires the failure rate alarm (metric math over TasksFailed / TasksSubmitted) at the overridden threshold", async () => {
    const ids = await Promise.all([failedTask(), failedTask(), failedTask()]);
    for (const id of ids) expect((await local.api.waitForTask(id)).status).toBe("failed");
    const firing = alarmOf(await waitForState("agent-diag-failure-rate", "ALARM"), "agent-diag-failure-rate");
    expect(firing.value).toBe(100);
    expect(firing.reason).toContain("> 50");
    await local.nexus.ingestFailures();
  });
});
