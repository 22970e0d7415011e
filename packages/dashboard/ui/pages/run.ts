import { get, post, qs } from "../api.js";
import { alertBox, badge, h, json, replace } from "../dom.js";
import type { FeedEvent } from "../feed.js";
import { schemaForm } from "../form.js";
import type { PageContext } from "../main.js";
import type { Agent, Page, Task } from "../types.js";
import { errorText, paramsForm } from "./common.js";

/** Run a task by hand: pick agent and action, fill the form made from its params schema, then follow it live. */
export async function runPage(ctx: PageContext) {
  ctx.title("Run a task");
  const agents = (await get<Page<Agent>>("/v1/agents?limit=100")).items.filter((a) => a.status === "active");
  const agentId = ctx.query.get("agentId") ?? agents[0]?.id ?? "";
  const agent = agents.find((a) => a.id === agentId);
  const actionName = ctx.query.get("action") ?? agent?.actions[0]?.name ?? "";
  const action = agent?.actions.find((a) => a.name === actionName);
  const go = (next: Record<string, string>) => {
    location.hash = `#/run${qs(next)}`;
  };
  const agentSelect = h(
    "select",
    { id: "run-agent", on: { change: () => go({ agentId: agentSelect.value }) } },
    agents.map((a) => h("option", { value: a.id, selected: a.id === agentId }, a.name)),
  );
  const actionSelect = h(
    "select",
    { id: "run-action", on: { change: () => go({ agentId, action: actionSelect.value }) } },
    (agent?.actions ?? []).map((a) => h("option", { value: a.name, selected: a.name === actionName }, a.name)),
  );
  const follow = h("section", { id: "run-follow", "aria-live": "polite" });
  const form = action ? schemaForm(action.params) : undefined;
  const message = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", id: "run-submit" }, "Run");
  replace(
    ctx.root,
    h("h1", null, "Run a task"),
    agents.length === 0 ? alertBox("No active agent: nothing can run.") : null,
    paramsForm(
      {
        params: () => form,
        submit,
        message,
        send: async (params) => {
          if (!form) return;
          const task = await post<Task>("/v1/tasks", { agentId, action: actionName, params });
          followTask(ctx, task, follow);
        },
      },
      h("div", { class: "field" }, h("label", { for: "run-agent" }, "Agent"), agentSelect),
      h("div", { class: "field" }, h("label", { for: "run-action" }, "Action"), actionSelect),
      action ? h("p", { class: "muted" }, action.description) : null,
      form?.element,
      submit,
      message,
    ),
    follow,
  );
}

/** Shows a task's status and, once it ends, its result or error; updated from the live feed. */
function followTask(ctx: PageContext, first: Task, into: HTMLElement) {
  const draw = (task: Task) =>
    replace(
      into,
      h(
        "div",
        { class: "card" },
        h("h2", null, "Task ", h("a", { href: `#/tasks/${task.id}` }, h("code", null, task.id))),
        h(
          "p",
          null,
          "Status: ",
          h("span", { id: "follow-status" }, badge(task.status)),
          ` · attempt ${task.attempts} of ${task.maxAttempts}`,
        ),
        task.result !== undefined && task.status === "succeeded" ? [h("h3", null, "Result"), json(task.result)] : null,
        task.error ? alertBox(`${task.error.code}: ${task.error.message}`) : null,
      ),
    );
  draw(first);
  const refresh = async () => draw(await get<Task>(`/v1/tasks/${first.id}`));
  let timer: ReturnType<typeof setTimeout> | undefined;
  ctx.onFeed((events: FeedEvent[]) => {
    if (!events.some((e) => e.taskId === first.id)) return;
    clearTimeout(timer);
    timer = setTimeout(() => void refresh().catch((error: unknown) => into.append(alertBox(errorText(error)))), 100);
  });
}
