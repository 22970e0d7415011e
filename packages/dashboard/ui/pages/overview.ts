import { get } from "../api.js";
import { h, replace } from "../dom.js";
import type { PageContext } from "../main.js";
import type { Agent, Page, Task } from "../types.js";
import { type AlarmList, pollWhileShown } from "./alarms.js";

const HEALTH = ["online", "degraded", "offline", "unknown"] as const;
const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;

/** Agents by health, tasks by status over the last hour, open failures, running plans: each number a link. */
export async function overviewPage(ctx: PageContext) {
  ctx.title("Overview");
  const body = h("div", { class: "grid" });
  replace(ctx.root, h("h1", null, "Overview"), body);
  let localAlarms = false;
  const load = async () => {
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const [agents, tasks, failures, plans, waiting, alarms] = await Promise.all([
      get<Page<Agent>>("/v1/agents?limit=100"),
      Promise.all(
        STATUSES.map((status) =>
          get<Page<Task>>(`/v1/tasks?status=${status}&limit=100`).then(
            (page) => [status, page.items.filter((t) => t.createdAt >= hourAgo).length, page.nextCursor] as const,
          ),
        ),
      ),
      ctx.can("GET /v1/failures") ? get<Page<unknown>>("/v1/failures?status=open&limit=100") : null,
      ctx.can("GET /v1/plans") ? get<Page<unknown>>("/v1/plans?status=running&limit=100") : null,
      ctx.can("GET /v1/plans") ? get<Page<unknown>>("/v1/plans?status=waiting_approval&limit=100") : null,
      ctx.can("GET /v1/alarms") ? get<AlarmList>("/v1/alarms") : null,
    ]);
    localAlarms = alarms?.source === "local";
    const firing = alarms?.source === "local" ? alarms.items.filter((a) => a.state === "ALARM").length : null;
    const count = (status: string) => agents.items.filter((a) => (a.health?.status ?? "unknown") === status).length;
    const more = (page: Page<unknown> | null) => (page ? `${page.items.length}${page.nextCursor ? "+" : ""}` : "—");
    replace(
      body,
      h(
        "section",
        { class: "card", "aria-labelledby": "ov-agents" },
        h("h2", { id: "ov-agents" }, "Agents by health"),
        h(
          "ul",
          { class: "stats" },
          HEALTH.map((status) =>
            h(
              "li",
              null,
              h(
                "a",
                { href: `#/agents?health=${status}`, class: `stat s-${status}` },
                h("strong", null, String(count(status))),
                ` ${status}`,
              ),
            ),
          ),
        ),
      ),
      h(
        "section",
        { class: "card", "aria-labelledby": "ov-tasks" },
        h("h2", { id: "ov-tasks" }, "Tasks created in the last hour"),
        h(
          "ul",
          { class: "stats" },
          tasks.map(([status, n, next]) =>
            h(
              "li",
              null,
              h(
                "a",
                { href: `#/tasks?status=${status}`, class: `stat s-${status}` },
                h("strong", null, `${n}${next && n === 100 ? "+" : ""}`),
                ` ${status}`,
              ),
            ),
          ),
        ),
      ),
      failures || plans || firing !== null
        ? h(
            "section",
            { class: "card", "aria-labelledby": "ov-work" },
            h("h2", { id: "ov-work" }, "Needs attention"),
            h(
              "ul",
              { class: "stats" },
              firing !== null
                ? h(
                    "li",
                    null,
                    h(
                      "a",
                      { href: "#/alarms?state=ALARM", class: `stat s-${firing > 0 ? "alarm" : "ok"}`, id: "ov-alarms" },
                      h("strong", null, String(firing)),
                      ` alarm${firing === 1 ? "" : "s"} firing`,
                    ),
                  )
                : null,
              failures
                ? h(
                    "li",
                    null,
                    h(
                      "a",
                      { href: "#/failures", class: "stat s-failed" },
                      h("strong", null, more(failures)),
                      " open failures",
                    ),
                  )
                : null,
              plans
                ? h(
                    "li",
                    null,
                    h(
                      "a",
                      { href: "#/plans?status=running", class: "stat s-running" },
                      h("strong", null, more(plans)),
                      " running plans",
                    ),
                  )
                : null,
              waiting
                ? h(
                    "li",
                    null,
                    h(
                      "a",
                      { href: "#/plans?status=waiting_approval", class: "stat s-waiting_approval" },
                      h("strong", null, more(waiting)),
                      " plans waiting for approval",
                    ),
                  )
                : null,
            ),
          )
        : null,
    );
  };
  await load();
  // Local alarms change on the runtime's own clock (no feed event), so the overview is read again every few seconds.
  if (localAlarms) pollWhileShown(ctx.root, load, 5000);
  let timer: ReturnType<typeof setTimeout> | undefined;
  ctx.onFeed(() => {
    clearTimeout(timer);
    timer = setTimeout(() => void load().catch(() => {}), 500);
  });
}
