import { get, post, qs } from "../api.js";
import { alertBox, badge, h, replace, time } from "../dom.js";
import { schemaForm } from "../form.js";
import type { PageContext } from "../main.js";
import type { Agent, Failure, Page, Task } from "../types.js";
import { actionButton, agentFilter, errorText, filterSelect, paramsForm, table } from "./common.js";

/** The failures inbox: filter by agent and status; open a failure, edit its params, redrive; redrive an agent's all. */
export async function failuresPage(ctx: PageContext) {
  ctx.title("Failures");
  const agentId = ctx.query.get("agentId") ?? undefined;
  const status = ctx.query.get("status") ?? "open";
  const byAgent = await agentFilter(ctx.query, "failures");
  const message = h("div", { "aria-live": "polite" });
  const detail = h("section", { id: "failure-detail", "aria-live": "polite" });
  const list = h("div");
  const canRedrive = ctx.can("POST /v1/failures/{id}/redrive");
  replace(
    ctx.root,
    h("h1", null, "Failures"),
    h(
      "div",
      { class: "filters" },
      byAgent,
      filterSelect("Status", "status", ["open", "redriven"], ctx.query, "failures"),
      agentId && status === "open" && ctx.can("POST /v1/failures/redrive")
        ? actionButton(
            `Redrive all of ${agentId}`,
            async () => {
              const out = await post<{ redriven: unknown[]; skipped: Array<{ failureId: string; message: string }> }>(
                "/v1/failures/redrive",
                { agentId },
              );
              await load();
              const skipped = out.skipped.map((s) => `${s.failureId} (${s.message})`).join(", ");
              return `${out.redriven.length} redriven${out.skipped.length ? `, ${out.skipped.length} skipped: ${skipped}` : ""}.`;
            },
            { status: message },
          )
        : null,
    ),
    message,
    detail,
    list,
  );
  const open = async (failure: Failure) => {
    const [agent, task] = await Promise.all([
      get<Agent>(`/v1/agents/${encodeURIComponent(failure.agentId)}`).catch(() => undefined),
      failure.taskId ? get<Task>(`/v1/tasks/${failure.taskId}`).catch(() => undefined) : undefined,
    ]);
    const schema = agent?.actions.find((a) => a.name === failure.action)?.params ?? { type: "object" };
    const form = schemaForm(schema, task?.params ?? {});
    const result = h("div", { "aria-live": "polite" });
    const submit = h("button", { type: "submit", id: "redrive-submit" }, "Redrive with these params");
    replace(
      detail,
      h(
        "div",
        { class: "card" },
        h("h2", null, `Failure ${failure.id}`),
        h(
          "p",
          null,
          `${failure.agentId}.${failure.action ?? "?"} · ${failure.attempts} attempts · failed `,
          time(failure.failedAt),
        ),
        alertBox(`${failure.error.code}: ${failure.error.message}`),
        failure.taskId
          ? h("p", null, "Task ", h("a", { href: `#/tasks/${failure.taskId}` }, h("code", null, failure.taskId)))
          : null,
        canRedrive && failure.status === "open"
          ? paramsForm(
              {
                params: () => form,
                submit,
                message: result,
                class: "",
                send: async (params) => {
                  const out = await post<{ task: Task | null }>(`/v1/failures/${failure.id}/redrive`, { params });
                  const taskId = out.task?.id;
                  replace(
                    result,
                    h(
                      "p",
                      { class: "ok", role: "status" },
                      "Redriven as ",
                      taskId
                        ? h("a", { href: `#/tasks/${taskId}`, id: "redriven-task" }, h("code", null, taskId))
                        : "a new task (its message was put back on the queue)",
                      ".",
                    ),
                  );
                  await load();
                },
              },
              h("h3", null, "Params"),
              form.element,
              submit,
            )
          : null,
        result,
      ),
    );
    detail.querySelector<HTMLElement>("h2")?.setAttribute("tabindex", "-1");
    detail.querySelector<HTMLElement>("h2")?.focus();
  };
  const load = async () => {
    const page = await get<Page<Failure>>(`/v1/failures${qs({ agentId, status, limit: 50 })}`);
    replace(
      list,
      table(
        "Failures",
        ["Failure", "Agent and action", "Error", "Attempts", "Failed", "Status"],
        page.items.map((failure) => [
          h(
            "button",
            {
              type: "button",
              class: "link",
              "data-failure": failure.id,
              on: { click: () => void open(failure).catch((e: unknown) => replace(detail, alertBox(errorText(e)))) },
            },
            failure.id,
          ),
          h("span", null, `${failure.agentId}.${failure.action ?? "?"}`),
          h("span", null, h("code", null, failure.error.code), ` ${failure.error.message.slice(0, 120)}`),
          h("span", null, String(failure.attempts)),
          time(failure.failedAt),
          badge(failure.status),
        ]),
      ),
    );
  };
  await load();
}
