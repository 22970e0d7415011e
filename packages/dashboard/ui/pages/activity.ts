import { get, qs } from "../api.js";
import { badge, h, replace, time } from "../dom.js";
import type { FeedEvent } from "../feed.js";
import type { PageContext } from "../main.js";
import { agentFilter, filterSelect } from "./common.js";

const KEEP = 300;

function link(event: FeedEvent) {
  if (event.taskId) return h("a", { href: `#/tasks/${event.taskId}` }, h("code", null, event.taskId));
  if (event.planId) return h("a", { href: `#/plans/${event.planId}` }, h("code", null, event.planId));
  if (event.scheduleId) return h("a", { href: "#/schedules" }, h("code", null, event.scheduleId));
  if (event.agentId) return h("a", { href: `#/agents/${event.agentId}` }, event.agentId);
  return h("span");
}

/** The live activity of the whole system (task, plan, agent and schedule events), newest first, filterable. */
export async function activityPage(ctx: PageContext) {
  ctx.title("Activity");
  const agentId = ctx.query.get("agentId") ?? undefined;
  const kind = ctx.query.get("kind") ?? undefined;
  const byAgent = await agentFilter(ctx.query, "activity");
  const list = h("ol", { class: "activity", "aria-live": "polite", "aria-relevant": "additions" });
  replace(
    ctx.root,
    h("h1", null, "Activity"),
    h(
      "div",
      { class: "filters" },
      byAgent,
      filterSelect("Kind", "kind", ["task", "plan", "agent", "schedule"], ctx.query, "activity"),
    ),
    list,
  );
  const row = (event: FeedEvent) =>
    h(
      "li",
      { "data-id": event.id },
      time(event.at),
      " ",
      h("span", { class: "kind" }, event.kind),
      " ",
      badge(event.type.replace(/^health\./, "")),
      " ",
      link(event),
      event.agentId && event.kind !== "agent"
        ? h("span", { class: "muted" }, ` ${event.agentId}${event.action ? `.${event.action}` : ""}`)
        : null,
      event.stepId ? h("span", { class: "muted" }, ` step ${event.stepId}`) : null,
      event.message ? h("span", null, ` ${event.message}`) : null,
    );
  const seen = new Set<string>();
  const show = (events: FeedEvent[]) => {
    for (const event of events) {
      seen.add(event.id);
      list.prepend(row(event));
    }
    while (list.children.length > KEEP) list.lastElementChild?.remove();
  };
  // The last hour, page by page, then live from the shared feed.
  let after: string | undefined;
  const since = new Date(Date.now() - 3_600_000).toISOString();
  for (let pages = 0; pages < 10; pages++) {
    const page = await get<{ items: FeedEvent[]; nextCursor: string }>(
      `/v1/events${qs({ after, since: after ? undefined : since, agentId, kind, limit: 200 })}`,
    );
    show(page.items);
    after = page.nextCursor;
    if (page.items.length < 200) break;
  }
  if (list.children.length === 0) list.append(h("li", { class: "muted" }, "Nothing happened in the last hour."));
  ctx.onFeed((events) => {
    const fresh = events.filter(
      (e) => !seen.has(e.id) && (!agentId || e.agentId === agentId) && (!kind || e.kind === kind),
    );
    if (list.firstElementChild?.classList.contains("muted")) list.firstElementChild.remove();
    show(fresh);
  });
}
