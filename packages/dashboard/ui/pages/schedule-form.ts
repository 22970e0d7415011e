import { api, get, post } from "../api.js";
import { alertBox, h, replace } from "../dom.js";
import { type SchemaForm, schemaForm } from "../form.js";
import type { Agent, Page, Schedule } from "../types.js";
import { errorText, paramsForm } from "./common.js";

interface Preview {
  cron?: string;
  unixCron?: string;
  rate?: string;
  timezone: string;
  nextRuns: string[];
}

/** Which field an expression goes in: `rate(...)` is a rate, anything else a cron (EventBridge's or Unix's). */
const recurrence = (text: string) => (text.trim().startsWith("rate(") ? { rate: text.trim() } : { cron: text.trim() });

/**
 * Creates a schedule of a task, or edits one (`existing`): name, expression (EventBridge cron(...) or rate(...), or
 * five-field Unix cron), time zone, the task (agent, action, params from the action's schema), overlap. The next five
 * runs are previewed (POST /v1/schedules/preview) before saving.
 */
export async function scheduleForm(existing: Schedule | undefined, done: (message: string) => Promise<void>) {
  const agents = (await get<Page<Agent>>("/v1/agents?limit=100")).items.filter((a) => a.status === "active");
  const target = existing?.target.type === "task" ? existing.target : undefined;
  const prefix = existing ? `edit-${existing.id}` : "new";
  const field = (name: string) => `${prefix}-${name}`;
  const name = h("input", { id: field("name"), required: true, maxlength: 100, value: existing?.name });
  const expression = h("input", {
    id: field("expression"),
    required: true,
    value: existing ? (existing.cron ?? existing.rate ?? "") : "0 9 * * 1-5",
    "aria-describedby": field("expression-help"),
  });
  const timezone = h("input", { id: field("timezone"), value: existing?.timezone ?? "UTC" });
  const overlap = h(
    "select",
    { id: field("overlap") },
    ["skip", "allow"].map((o) => h("option", { value: o, selected: existing?.overlap === o }, o)),
  );
  const agentSelect = h(
    "select",
    { id: field("agent") },
    agents.map((a) => h("option", { value: a.id, selected: a.id === (target?.agentId ?? "diag") }, a.name)),
  );
  const actionSelect = h("select", { id: field("action") });
  const paramsHolder = h("div");
  const previewBox = h("div", { id: field("preview"), "aria-live": "polite" });
  const message = h("div", { "aria-live": "polite" });
  let params: SchemaForm | undefined;

  const drawActions = (keepParams: boolean) => {
    const agent = agents.find((a) => a.id === agentSelect.value);
    const chosen = keepParams ? target?.action : undefined;
    replace(
      actionSelect,
      (agent?.actions ?? []).map((a) => h("option", { value: a.name, selected: a.name === chosen }, a.name)),
    );
    drawParams(keepParams);
  };
  const drawParams = (keepParams: boolean) => {
    const action = agents.find((a) => a.id === agentSelect.value)?.actions.find((a) => a.name === actionSelect.value);
    params = action ? schemaForm(action.params, keepParams ? target?.params : undefined) : undefined;
    replace(paramsHolder, params?.element);
  };
  agentSelect.addEventListener("change", () => drawActions(false));
  actionSelect.addEventListener("change", () => drawParams(false));
  drawActions(true);

  let asked = 0;
  const preview = async () => {
    // Only the answer to the latest question is shown (answers may come back out of order).
    const question = ++asked;
    try {
      const shown = await post<Preview>("/v1/schedules/preview", {
        ...recurrence(expression.value),
        timezone: timezone.value || "UTC",
      });
      if (question !== asked) return true;
      replace(
        previewBox,
        h(
          "p",
          null,
          "Stored as ",
          h("code", null, shown.cron ?? shown.rate ?? ""),
          ` in ${shown.timezone}. Next runs:`,
        ),
        h(
          "ol",
          null,
          shown.nextRuns.map((at) =>
            h(
              "li",
              null,
              h(
                "time",
                { datetime: at, title: new Date(at).toLocaleString() },
                `${at.slice(0, 16).replace("T", " ")} UTC`,
              ),
            ),
          ),
        ),
      );
      return true;
    } catch (error) {
      if (question === asked) replace(previewBox, alertBox(errorText(error)));
      return false;
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  for (const input of [expression, timezone]) {
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => void preview(), 400);
    });
  }
  void preview();

  const save = h("button", { type: "submit", id: field("save") }, existing ? "Save changes" : "Create schedule");
  return paramsForm(
    {
      params: () => params,
      submit: save,
      message,
      send: async (values) => {
        const body = {
          name: name.value,
          ...recurrence(expression.value),
          timezone: timezone.value || "UTC",
          overlap: overlap.value,
          target: { type: "task", agentId: agentSelect.value, action: actionSelect.value, params: values ?? {} },
        };
        if (existing) await api("PATCH", `/v1/schedules/${encodeURIComponent(existing.id)}`, body);
        else await post("/v1/schedules", body);
        await done(existing ? `${body.name} saved.` : `${body.name} created.`);
      },
    },
    h("h2", null, existing ? `Edit ${existing.name}` : "New schedule"),
    h("div", { class: "field" }, h("label", { for: field("name") }, "Name"), name),
    h(
      "div",
      { class: "field" },
      h("label", { for: field("expression") }, "When"),
      expression,
      h(
        "span",
        { class: "muted", id: field("expression-help") },
        "Unix cron (0 9 * * 1-5), EventBridge cron(0 9 ? * MON-FRI *) or rate(15 minutes)",
      ),
    ),
    h("div", { class: "field" }, h("label", { for: field("timezone") }, "Time zone (IANA)"), timezone),
    previewBox,
    h("div", { class: "field" }, h("label", { for: field("agent") }, "Agent"), agentSelect),
    h("div", { class: "field" }, h("label", { for: field("action") }, "Action"), actionSelect),
    paramsHolder,
    h("div", { class: "field" }, h("label", { for: field("overlap") }, "When the last run is unfinished"), overlap),
    save,
    message,
  );
}
