import { get, getKey, post, qs } from "../api.js";
import { ago, alertBox, badge, h, json, replace, time } from "../dom.js";
import type { FeedEvent } from "../feed.js";
import type { PageContext } from "../main.js";
import type { Page, Task, TaskLogs } from "../types.js";
import { actionButton, agentFilter, costFacts, errorText, filterSelect, reloadOn, table } from "./common.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];

/** Tasks newest first, filtered by agent and status (kept in the URL), updating live. */
export async function tasksPage(ctx: PageContext) {
  ctx.title("Tasks");
  const agentId = ctx.query.get("agentId") ?? undefined;
  const status = ctx.query.get("status") ?? undefined;
  const cursor = ctx.query.get("cursor") ?? undefined;
  const planId = ctx.query.get("planId") ?? undefined;
  const byAgent = await agentFilter(ctx.query, "tasks");
  const list = h("div", { "aria-live": "polite", "aria-busy": "false" });
  replace(
    ctx.root,
    h(
      "div",
      { class: "title-row" },
      h("h1", null, "Tasks"),
      ctx.can("POST /v1/tasks") ? h("a", { class: "button", href: `#/run${qs({ agentId })}` }, "Run a task") : null,
    ),
    h(
      "div",
      { class: "filters" },
      byAgent,
      filterSelect("Status", "status", STATUSES, ctx.query, "tasks"),
      planId
        ? h(
            "span",
            null,
            "Plan ",
            h("a", { href: `#/plans/${planId}` }, h("code", null, planId)),
            " ",
            h("a", { href: `#/tasks${qs({ agentId, status })}` }, "(all plans)"),
          )
        : null,
    ),
    list,
  );
  const load = async () => {
    const page = await get<Page<Task>>(`/v1/tasks${qs({ agentId, status, planId, cursor, limit: 50 })}`);
    const next = new URLSearchParams(ctx.query);
    if (page.nextCursor) next.set("cursor", page.nextCursor);
    replace(
      list,
      table(
        "Tasks",
        ["Task", "Agent", "Action", "Status", "Attempts", "Created", "Finished"],
        page.items.map((task) => [
          h("a", { href: `#/tasks/${task.id}` }, h("code", null, task.id)),
          h("a", { href: `#/agents/${encodeURIComponent(task.agentId)}` }, task.agentId),
          h(
            "span",
            null,
            task.action,
            task.planId ? h("span", { class: "muted" }, ` (plan step ${task.stepId})`) : null,
          ),
          badge(task.status),
          h("span", null, `${task.attempts}/${task.maxAttempts}`),
          time(task.createdAt),
          time(task.finishedAt),
        ]),
      ),
      h(
        "p",
        { class: "pager" },
        cursor ? h("a", { href: `#/tasks${qs({ agentId, status, planId })}` }, "Newest") : null,
        " ",
        page.nextCursor ? h("a", { href: `#/tasks?${next.toString()}` }, "Older") : null,
      ),
    );
  };
  await load();
  // Live on the first page only: an older page stays as it was read.
  if (!cursor) {
    reloadOn(
      ctx,
      // A task's events do not name its plan: with a plan, any task's (and the plan's own) reload the list.
      (e: FeedEvent) => (e.kind === "task" && (!agentId || e.agentId === agentId)) || (!!planId && e.planId === planId),
      load,
    );
  }
}

/** Downloads a task's params or result (sent with the key; in AWS the API redirects to a short-lived URL). */
async function download(href: string, name: string) {
  const response = await fetch(href, { headers: { authorization: `Bearer ${getKey() ?? ""}` } });
  if (!response.ok) throw new Error(`the download failed with HTTP ${response.status}`);
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function payload(task: Task, kind: "params" | "result", status: HTMLElement) {
  const ref = kind === "params" ? task.paramsRef : task.resultRef;
  const value = kind === "params" ? task.params : task.result;
  const button = ref
    ? actionButton(
        `Download ${kind} (${Math.round(ref.bytes / 1024)} KB)`,
        async () => {
          await download(ref.href, `${task.id}-${kind}.json`);
          return undefined;
        },
        { status },
      )
    : null;
  if (value === undefined && !ref) return h("p", { class: "muted" }, kind === "result" ? "No result yet." : "None.");
  return h(
    "div",
    null,
    value === undefined ? h("p", { class: "muted" }, "Too large to show here.") : json(value),
    button,
  );
}

/** A task: status, params, result, error, attempts, its timeline and every attempt's logs, live. */
export async function taskPage(ctx: PageContext) {
  const id = ctx.path[1] ?? "";
  ctx.title(`Task ${id}`);
  const status = h("div", { "aria-live": "polite" });
  const body = h("div");
  replace(ctx.root, h("h1", null, "Task ", h("code", null, id)), status, body);
  const load = async () => {
    const [task, logs] = await Promise.all([
      get<Task>(`/v1/tasks/${encodeURIComponent(id)}`),
      get<TaskLogs>(`/v1/tasks/${encodeURIComponent(id)}/logs`).catch((error: unknown) => error),
    ]);
    const open = task.status === "queued" || task.status === "running";
    replace(
      body,
      h(
        "dl",
        { class: "facts" },
        h("dt", null, "Status"),
        h("dd", { id: "task-status" }, badge(task.status)),
        h("dt", null, "Agent"),
        h(
          "dd",
          null,
          h("a", { href: `#/agents/${encodeURIComponent(task.agentId)}` }, task.agentId),
          ` · ${task.action}`,
        ),
        h("dt", null, "Attempts"),
        h("dd", null, `${task.attempts} of ${task.maxAttempts}`),
        h("dt", null, "Created"),
        h("dd", null, time(task.createdAt)),
        h("dt", null, "Finished"),
        h("dd", null, time(task.finishedAt)),
        task.planId
          ? [
              h("dt", null, "Plan"),
              h("dd", null, h("a", { href: `#/plans/${task.planId}` }, task.planId), ` step ${task.stepId}`),
            ]
          : null,
        task.redriveOf
          ? [h("dt", null, "Redrives"), h("dd", null, h("a", { href: `#/tasks/${task.redriveOf}` }, task.redriveOf))]
          : null,
        costFacts(task.cost),
      ),
      open && ctx.can("POST /v1/tasks/{id}/cancel")
        ? h(
            "div",
            { class: "controls" },
            actionButton(
              "Cancel task",
              async () => {
                await post(`/v1/tasks/${encodeURIComponent(id)}/cancel`);
                await load();
                return "Cancelled.";
              },
              { status, danger: true },
            ),
          )
        : null,
      task.error
        ? h(
            "section",
            { class: "card error-card" },
            h("h2", null, "Error"),
            h("p", null, h("code", null, task.error.code), ` ${task.error.message}`),
            h("p", { class: "muted" }, task.error.retriable ? "retriable" : "not retriable"),
          )
        : null,
      h(
        "div",
        { class: "two" },
        h("section", { class: "card" }, h("h2", null, "Params"), payload(task, "params", status)),
        h(
          "section",
          { class: "card" },
          h("h2", null, "Result"),
          h("div", { id: "task-result" }, payload(task, "result", status)),
        ),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", null, "Timeline"),
        h(
          "ol",
          { class: "timeline" },
          task.events.map((event) =>
            h(
              "li",
              null,
              time(event.at),
              " ",
              badge(event.type),
              event.attempt ? ` attempt ${event.attempt}` : "",
              event.error ? ` ${event.error.code}: ${event.error.message}` : event.message ? ` ${event.message}` : "",
            ),
          ),
        ),
      ),
      h("section", { class: "card", id: "logs" }, h("h2", null, "Logs"), logsView(logs)),
    );
  };
  await load();
  reloadOn(ctx, (e: FeedEvent) => e.kind === "task" && e.taskId === id, load);
}

function logsView(logs: TaskLogs | unknown) {
  if (!logs || typeof logs !== "object" || !("attempts" in logs)) return alertBox(errorText(logs));
  const { attempts } = logs as TaskLogs;
  if (attempts.length === 0) return h("p", { class: "muted" }, "No attempt has run yet.");
  return attempts.map((attempt) =>
    h(
      "details",
      { open: attempt === attempts.at(-1), class: "attempt-log" },
      h("summary", null, `Attempt ${attempt.attempt} · ${attempt.lines.length} lines · ${ago(attempt.endedAt)}`),
      attempt.dropped > 0 ? h("p", { class: "muted" }, `${attempt.dropped} earlier lines left out`) : null,
      h(
        "pre",
        { class: "log", tabindex: 0, "aria-label": `Log of attempt ${attempt.attempt}` },
        attempt.lines.map((line) =>
          h(
            "span",
            { class: `line l-${line.level}` },
            `${line.at.slice(11, 23)} ${line.level.toUpperCase().padEnd(5)} ${line.message}${line.data ? ` ${line.data}` : ""}\n`,
          ),
        ),
      ),
    ),
  );
}
