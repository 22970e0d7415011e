import { get } from "../api.js";
import { h, replace, time } from "../dom.js";
import type { PageContext } from "../main.js";
import { filterSelect, table } from "./common.js";

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

export interface AlarmStatus {
  key: string;
  group: string;
  agentId: string | null;
  description: string;
  state: AlarmState;
  reason: string;
  since: string;
  value: number | null;
  threshold: number;
  comparison: string;
  periodSeconds: number;
  evaluationPeriods: number;
  setting: string | null;
}

export interface AlarmList {
  source: "local" | "cloudwatch";
  items: AlarmStatus[];
}

const STATES: AlarmState[] = ["ALARM", "INSUFFICIENT_DATA", "OK"];
const SYMBOL: Record<string, string> = {
  GreaterThanOrEqualToThreshold: "≥",
  GreaterThanThreshold: ">",
  LessThanThreshold: "<",
  LessThanOrEqualToThreshold: "≤",
};
/** How often the alarms are read again while their page (or the overview) is shown. */
export const ALARM_POLL_MS = 2000;

/** An alarm's state as a badge (the word is there, the colour is not the only cue). */
export const alarmBadge = (state: AlarmState) =>
  h("span", { class: `badge s-${state.toLowerCase()}` }, state.replace("_", " "));

/**
 * Calls `load` every `everyMs` while `root` is on the page: alarm states change without an event in the
 * feed (the runtime evaluates them on its own clock), so they are polled.
 */
export function pollWhileShown(root: HTMLElement, load: () => Promise<void>, everyMs = ALARM_POLL_MS) {
  const timer = setInterval(() => {
    if (!root.isConnected) clearInterval(timer);
    else void load().catch(() => {});
  }, everyMs);
}

const round = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/** Every alarm with its state, reason, value against threshold and since; those firing first; updating live. */
export async function alarmsPage(ctx: PageContext) {
  ctx.title("Alarms");
  const state = ctx.query.get("state") ?? undefined;
  const agentId = ctx.query.get("agentId") ?? undefined;
  const summary = h("p", { id: "alarm-summary", role: "status" });
  const list = h("div", { "aria-busy": "false" });
  const filters = h("div", { class: "filters" }, filterSelect("State", "state", STATES, ctx.query, "alarms"));
  replace(ctx.root, h("h1", null, "Alarms"), filters, summary, list);
  let agentsShown = false;
  const load = async () => {
    const alarms = await get<AlarmList>("/v1/alarms");
    if (!agentsShown) {
      agentsShown = true;
      const agents = [...new Set(alarms.items.flatMap((a) => (a.agentId ? [a.agentId] : [])))].sort();
      filters.append(filterSelect("Agent", "agentId", agents, ctx.query, "alarms"));
    }
    if (alarms.source === "cloudwatch") {
      replace(
        summary,
        "In AWS the alarms are CloudWatch's: their states, history and notifications are in the CloudWatch console ",
        "(and reach the deployment's SNS topic).",
      );
      replace(list);
      return;
    }
    const firing = alarms.items.filter((a) => a.state === "ALARM").length;
    replace(
      summary,
      firing === 0 ? "No alarm is firing." : `${firing} alarm${firing === 1 ? " is" : "s are"} firing.`,
      h("span", { class: "muted" }, ` Evaluated by this runtime against its own metrics; read every few seconds.`),
    );
    const shown = alarms.items.filter((a) => (!state || a.state === state) && (!agentId || a.agentId === agentId));
    const wrap = table(
      "Alarms",
      ["Alarm", "State", "Value / threshold", "Reason", "Since"],
      shown.map((alarm) => [
        h(
          "div",
          { "data-alarm": alarm.key },
          h("code", null, alarm.key),
          h("div", { class: "muted" }, alarm.description),
        ),
        alarmBadge(alarm.state),
        h(
          "span",
          null,
          `${alarm.value === null ? "—" : round(alarm.value)} ${SYMBOL[alarm.comparison] ?? alarm.comparison} ${round(alarm.threshold)}`,
          h(
            "div",
            { class: "muted" },
            `${alarm.evaluationPeriods} × ${alarm.periodSeconds} s`,
            alarm.setting ? ` · setting ${alarm.setting}` : "",
          ),
        ),
        h("span", null, alarm.reason),
        time(alarm.since),
      ]),
    );
    // Its rows hold no link: the wrapper itself takes focus, so a narrow screen can scroll it by keyboard.
    wrap.setAttribute("tabindex", "0");
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", "Alarms");
    replace(list, wrap);
  };
  await load();
  pollWhileShown(ctx.root, load);
}
