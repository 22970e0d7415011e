import type { Secrets } from "@nexus/core";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { createChatPoster } from "./chat.js";

/** An alarm's change of state, as a chat message tells it. */
export interface AlarmNotice {
  name: string;
  state: string;
  previous?: string;
  reason: string;
  description?: string;
  at: string;
}

/** Chat texts are capped well below Slack's and Teams' limits (the comms agent's `text` allows 4,000). */
const MAX_TEXT = 3000;

/** The message: its state first (what someone glancing at the channel needs), then why and what it means. */
export function alarmText(notice: AlarmNotice): string {
  const mark = notice.state === "ALARM" ? "[ALARM]" : notice.state === "OK" ? "[OK]" : `[${notice.state}]`;
  const was = notice.previous ? ` (was ${notice.previous})` : "";
  const lines = [`${mark} ${notice.name}${was} at ${notice.at}`, notice.reason];
  if (notice.description) lines.push(notice.description);
  const text = lines.join("\n");
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

/** What CloudWatch publishes to an alarm's SNS topic (the fields used here). */
const CloudWatchAlarmMessage = /* @__PURE__ */ pure(() =>
  z.object({
    AlarmName: z.string(),
    AlarmDescription: z.string().nullish(),
    NewStateValue: z.string(),
    OldStateValue: z.string().nullish(),
    NewStateReason: z.string(),
    StateChangeTime: z.string(),
  }),
);

/** A CloudWatch alarm's SNS message as a notice; undefined when the message is something else. */
export function noticeFromSns(message: string): AlarmNotice | undefined {
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch {
    return undefined;
  }
  const parsed = CloudWatchAlarmMessage.safeParse(json);
  if (!parsed.success) return undefined;
  const m = parsed.data;
  return {
    name: m.AlarmName,
    state: m.NewStateValue,
    ...(m.OldStateValue ? { previous: m.OldStateValue } : {}),
    reason: m.NewStateReason,
    ...(m.AlarmDescription ? { description: m.AlarmDescription } : {}),
    at: m.StateChangeTime,
  };
}

/**
 * Posts alarm notices to one channel of the comms agent's chat secret (Slack or Teams webhooks), with the comms agent's
 * poster: the same secret, the same checks, the same errors. A failed post throws (the caller retries).
 */
export function alarmChat(options: { secrets: Secrets; secretName: string; channel: string; timeoutMs?: number }) {
  const poster = createChatPoster({
    secrets: options.secrets,
    secretName: options.secretName,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  return {
    notify: (notice: AlarmNotice) => poster.post({ channel: options.channel, text: alarmText(notice) }),
  };
}
