import { api, get, post } from "../api.js";
import { alertBox, badge, h, replace, time } from "../dom.js";
import type { FeedEvent } from "../feed.js";
import type { PageContext } from "../main.js";
import type { Page, Schedule } from "../types.js";
import { actionButton, confirmButton, errorText, reloadOn, table } from "./common.js";
import { scheduleForm } from "./schedule-form.js";

/** Schedules with their next and last run: create and edit (runs previewed), enable, disable, run now, delete. */
export async function schedulesPage(ctx: PageContext) {
  ctx.title("Schedules");
  const status = h("div", { "aria-live": "polite" });
  const list = h("div");
  const editor = h("div", { id: "schedule-editor" });
  const canChange = ctx.can("PATCH /v1/schedules/{id}");
  const edit = async (schedule?: Schedule) => {
    try {
      const form = await scheduleForm(schedule, async (done) => {
        replace(editor);
        replace(status, h("p", { class: "ok", role: "status" }, done));
        await load();
      });
      replace(editor, form);
      form.querySelector<HTMLElement>("input")?.focus();
    } catch (error) {
      replace(editor, alertBox(errorText(error)));
    }
  };
  replace(
    ctx.root,
    h(
      "div",
      { class: "title-row" },
      h("h1", null, "Schedules"),
      ctx.can("POST /v1/schedules")
        ? h("button", { type: "button", id: "new-schedule", on: { click: () => void edit() } }, "Create schedule")
        : null,
    ),
    status,
    editor,
    list,
  );
  const load = async () => {
    const page = await get<Page<Schedule>>("/v1/schedules?limit=100");
    replace(
      list,
      table(
        "Schedules",
        ["Schedule", "When", "Target", "State", "Next run", "Last run", ...(canChange ? ["Actions"] : [])],
        page.items.map((s) => {
          const path = `/v1/schedules/${encodeURIComponent(s.id)}`;
          const last = s.lastRun;
          const cells: Node[] = [
            h("span", null, s.name),
            h("span", null, h("code", null, s.cron ?? s.rate ?? ""), ` ${s.timezone}`),
            h(
              "span",
              null,
              s.target.type === "task" ? `${s.target.agentId}.${s.target.action}` : `plan ${s.target.name ?? ""}`,
            ),
            badge(s.enabled ? "enabled" : "disabled"),
            time(s.nextRunAt),
            last
              ? h(
                  "span",
                  null,
                  badge(last.outcome),
                  " ",
                  time(last.at),
                  last.taskId ? [" ", h("a", { href: `#/tasks/${last.taskId}` }, "task")] : null,
                  last.planId ? [" ", h("a", { href: `#/plans/${last.planId}` }, "plan")] : null,
                  last.error ? ` ${last.error.code}: ${last.error.message}` : null,
                )
              : h("span", { class: "muted" }, "never"),
          ];
          if (canChange) {
            cells.push(
              h(
                "span",
                { class: "controls" },
                s.target.type === "task"
                  ? h("button", { type: "button", on: { click: () => void edit(s) } }, `Edit ${s.name}`)
                  : null,
                " ",
                actionButton(
                  s.enabled ? `Disable ${s.name}` : `Enable ${s.name}`,
                  async () => {
                    await api("PATCH", path, { enabled: !s.enabled });
                    await load();
                    return `${s.name} ${s.enabled ? "disabled" : "enabled"}.`;
                  },
                  { status },
                ),
                " ",
                ctx.can("POST /v1/schedules/{id}/run-now")
                  ? actionButton(
                      `Run ${s.name} now`,
                      async () => {
                        await post(`${path}/run-now`);
                        await load();
                        return `${s.name} ran.`;
                      },
                      { status },
                    )
                  : null,
                " ",
                ctx.can("DELETE /v1/schedules/{id}")
                  ? confirmButton(
                      `Delete ${s.name}…`,
                      `Delete schedule ${s.name}? It never fires again; its tasks and plans stay.`,
                      "Delete schedule",
                      async () => {
                        await api("DELETE", path);
                        await load();
                        return `${s.name} deleted.`;
                      },
                      status,
                    )
                  : null,
              ),
            );
          }
          return cells;
        }),
      ),
    );
  };
  await load();
  reloadOn(ctx, (e: FeedEvent) => e.kind === "schedule", load);
}
