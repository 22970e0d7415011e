import { get, qs } from "../api.js";
import { badge, h, replace, time } from "../dom.js";
import type { FeedEvent } from "../feed.js";
import type { PageContext } from "../main.js";
import type { Page, Plan } from "../types.js";
import { filterSelect, reloadOn, table } from "./common.js";

const STATUSES = ["pending", "running", "waiting_approval", "succeeded", "failed", "cancelled"];

/** Plans newest first, by status, live. */
export async function plansPage(ctx: PageContext) {
  ctx.title("Plans");
  const status = ctx.query.get("status") ?? undefined;
  const list = h("div");
  replace(
    ctx.root,
    h("h1", null, "Plans"),
    h("div", { class: "filters" }, filterSelect("Status", "status", STATUSES, ctx.query, "plans")),
    list,
  );
  const load = async () => {
    const page = await get<Page<Plan>>(`/v1/plans${qs({ status, limit: 50 })}`);
    replace(
      list,
      table(
        "Plans",
        ["Plan", "Name", "Status", "Created", "Updated"],
        page.items.map((plan) => [
          h("a", { href: `#/plans/${plan.id}` }, h("code", null, plan.id)),
          h("span", null, plan.name ?? ""),
          badge(plan.status),
          time(plan.createdAt),
          time(plan.updatedAt),
        ]),
      ),
    );
  };
  await load();
  reloadOn(ctx, (e: FeedEvent) => e.kind === "plan", load);
}

export { planPage } from "./plan.js";
