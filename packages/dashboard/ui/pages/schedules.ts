import { api, get, post } from "../api.js";
import { badge, h, replace, time } from "../dom.js";
import type { FeedEvent } from "../feed.js";
import type { PageContext } from "../main.js";
import type { Page, Schedule } from "../types.js";
import { actionButton, confirmButton, reloadOn, table } from "./common.js";

/** Schedules with their next and last run: enable, disable, run now, delete. */
export async function schedulesPage(ctx: PageContext) {
  ctx.title("Schedules");
  const status = h("div", { "aria-live": "polite" });
  const list = h("div");
  replace(ctx.root, h("h1", null, "Schedules"), status, list);
  const canChange = ctx.can("PATCH /v1/schedules/{id}");
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
