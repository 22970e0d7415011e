/**
 * Settings from the deploying shell are checked at synth time with the parsers the functions use, so the stack and
 * the runtime cannot disagree: a value a function would refuse at every cold start fails the synth, and a value the
 * functions take is not refused by the stack. No synthesis here: the stack's checks are plain functions.
 */
import { describe, expect, it } from "vitest";
import { parseSender } from "../../packages/agents/src/comms/config.js";
import { CHANNEL } from "../../packages/agents/src/comms/spec.js";
import * as Alarms from "../../packages/core/src/alarms.js";
import { contextFromEnv } from "../../packages/core/src/context.js";
import { alarmSettingsEnv, apiSettingsEnv, commsSettingsEnv, healthSettingsEnv } from "../../stacks/settings.js";

const accepts = (check: () => unknown) => {
  try {
    check();
    return true;
  } catch {
    return false;
  }
};
const runtime = (name: string, value: string) => () =>
  contextFromEnv({ NEXUS_TABLE: "t", NEXUS_QUEUE_PREFIX: "nexus-test-agent-", [name]: value });

/** Each value with whether both take it; the last ones of each list were taken by one side and refused by the other. */
const API_SETTINGS: Record<string, Array<[string, boolean]>> = {
  NEXUS_RATE_LIMIT_PER_MINUTE: [
    ["120", true],
    [" 120 ", true],
    ["", true],
    ["0", false],
    ["-5", false],
    ["1.5", false],
    ["ten", false],
    ["1e3", false],
    ["0x10", false],
    ["+5", false],
    ["99999999999999999999", false],
  ],
  NEXUS_DAILY_CAPS: [
    ['{"comms.send_sms": 10}', true],
    [" ", true],
    ["{", false],
    ["[]", false],
    ["null", false],
    ['{"a.b": -1}', false],
    ['{"a.b": 1.5}', false],
    ['{"a.b": "3"}', false],
    ['{"a.b": 1e20}', false],
  ],
  NEXUS_HEALTH: [
    ['{"offlineIntervals": 4, "probeIntervalSeconds": 120}', true],
    ["", true],
    ["{", false],
    ["[]", false],
    ['{"errorRate": 2}', false],
    ['{"onlineIntervals": 3, "offlineIntervals": 2}', false],
    ['{"offline": 3}', false],
  ],
};

describe("settings from the deploying shell", () => {
  it("are refused by the stack exactly when the functions refuse them (packages/core/src/settings-env.ts)", () => {
    const stackCheck = (name: string, value: string) => () =>
      name === "NEXUS_HEALTH" ? healthSettingsEnv({ [name]: value }) : apiSettingsEnv({ [name]: value });
    for (const [name, values] of Object.entries(API_SETTINGS)) {
      for (const [value, taken] of values) {
        expect(accepts(runtime(name, value)), `runtime ${name}=${value}`).toBe(taken);
        expect(accepts(stackCheck(name, value)), `stack ${name}=${value}`).toBe(taken);
      }
    }
  });

  it("stack alone refuses a probe interval that is not whole minutes: the probe's schedule runs at a rate in minutes", () => {
    const health = '{"probeIntervalSeconds": 90}';
    expect(accepts(runtime("NEXUS_HEALTH", health))).toBe(true);
    expect(() => healthSettingsEnv({ NEXUS_HEALTH: health })).toThrow(/whole minutes/);
  });

  it("take the email sender exactly as the comms agent does (packages/agents/src/comms/sender.ts)", () => {
    const senders: Array<[string, boolean]> = [
      ["a@example.com", true],
      ["Nexus <nexus@example.com>", true],
      ['"Nexus Alerts" <alerts+ops@mail.example.com>', true],
      ["nobody", false],
      ["a@b", false],
      ["<a@example.com", false],
      ["x <a@example.com> y", false],
      ['A"B <ops@example.com>', false],
      // Taken by the stack before it used the agent's parser; every email would then have failed, not_configured.
      ["Nexus ☃ <alerts@example.com>", false],
      ["ü@example.com", false],
      ["a@example.1", false],
      ["a@-example.com", false],
    ];
    for (const [from, taken] of senders) {
      expect(
        accepts(() => parseSender(from)),
        `agent ${from}`,
      ).toBe(taken);
      expect(
        accepts(() => commsSettingsEnv({ NEXUS_EMAIL_FROM: from })),
        `stack ${from}`,
      ).toBe(taken);
    }
  });
});

describe("alarm settings", () => {
  it("are the local runtime's (NEXUS_ALARMS parsed by one function), failing the synth with the key at fault", () => {
    expect(alarmSettingsEnv({}).settings).toEqual(Alarms.DEFAULT_ALARM_SETTINGS);
    expect(alarmSettingsEnv({ NEXUS_ALARMS: '{"queueAgeMinutes": 45}' }).settings).toEqual(
      Alarms.parseAlarmSettings('{"queueAgeMinutes": 45}'),
    );
    expect(() => alarmSettingsEnv({ NEXUS_ALARMS: '{"queueAgeMinute": 45}' })).toThrow(/queueAgeMinute/);
  });

  it("take a chat channel exactly when the comms agent's chat secret can name it, and an email address", () => {
    for (const channel of ["ops", "on-call_2", "Ops", "ops channel", "-ops", "a".repeat(65)]) {
      expect(
        accepts(() => alarmSettingsEnv({ NEXUS_ALARM_CHAT: channel })),
        channel,
      ).toBe(CHANNEL.test(channel));
    }
    expect(alarmSettingsEnv({ NEXUS_ALARM_EMAIL: " oncall@example.com " }).email).toBe("oncall@example.com");
    expect(() => alarmSettingsEnv({ NEXUS_ALARM_EMAIL: "oncall" })).toThrow(/NEXUS_ALARM_EMAIL/);
    expect(alarmSettingsEnv({ NEXUS_ALARM_EMAIL: "", NEXUS_ALARM_CHAT: " " })).toEqual({
      settings: Alarms.DEFAULT_ALARM_SETTINGS,
    });
  });
});
