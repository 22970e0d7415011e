import { get, post, qs } from "../api.js";
import { alertBox, badge, h, replace, time } from "../dom.js";
import type { FeedEvent } from "../feed.js";
import type { PageContext } from "../main.js";
import type { Page, Plan, PlanStep } from "../types.js";
import { errorText, filterSelect, reloadOn, table } from "./common.js";
import { dag } from "./plan.js";

const STATUSES = ["pending", "running", "waiting_approval", "succeeded", "failed", "cancelled"];

/** Plans newest first, by status, live. */
export async function plansPage(ctx: PageContext) {
  ctx.title("Plans");
  const status = ctx.query.get("status") ?? undefined;
  const list = h("div");
  replace(
    ctx.root,
    h("h1", null, "Plans"),
    ctx.can("POST /v1/plans") ? fromGoal() : null,
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

type Preview = Pick<Plan, "name" | "goal" | "planner" | "steps">;

/** A previewed step as a step to submit (what the API returned, less what it derived). */
function inputOf(step: PlanStep) {
  const common = { id: step.id, dependsOn: step.dependsOn };
  if (step.kind === "approval") {
    return {
      ...common,
      kind: "approval",
      message: step.message ?? "",
      ...(step.approvers ? { approvers: step.approvers } : {}),
    };
  }
  if (step.kind === "wait") return { ...common, kind: "wait", seconds: step.seconds ?? 0 };
  return {
    ...common,
    agentId: step.agentId,
    action: step.action,
    params: step.params ?? {},
    ...(step.retry ? { retry: step.retry } : {}),
  };
}

/** "New plan from a goal": the planner's steps and explanation first (a dry run), then run them as shown. */
function fromGoal() {
  const goal = h("textarea", { id: "goal", rows: 2, maxlength: 2000, required: true });
  const approval = h("input", { id: "goal-approval", type: "checkbox" });
  const preview = h("div", { id: "goal-preview", "aria-live": "polite" });
  const planIt = h("button", { type: "submit", id: "goal-plan" }, "Plan it (dry run)");
  let planned: Preview | undefined;
  const run = h("button", { type: "button", id: "goal-run" }, "Run this plan");
  run.addEventListener("click", async () => {
    if (!planned) return;
    run.disabled = true;
    try {
      const body = { name: planned.name, goal: planned.goal ?? goal.value, steps: planned.steps.map(inputOf) };
      const created = await post<Plan>("/v1/plans", body);
      location.hash = `#/plans/${created.id}`;
    } catch (error) {
      preview.append(alertBox(errorText(error)));
    } finally {
      run.disabled = false;
    }
  });
  return h(
    "form",
    {
      class: "card",
      on: {
        submit: async (event) => {
          event.preventDefault();
          planIt.disabled = true;
          planned = undefined;
          replace(preview);
          try {
            const constraints = approval.checked ? { requireApproval: true } : undefined;
            planned = await post<Preview>("/v1/plans", {
              goal: goal.value,
              dryRun: true,
              ...(constraints ? { constraints } : {}),
            });
            replace(
              preview,
              h("h3", null, planned.name),
              planned.planner
                ? h(
                    "p",
                    null,
                    `Planned by ${planned.planner.name}${planned.planner.rule ? ` (rule ${planned.planner.rule})` : ""}: ${planned.planner.explanation}`,
                  )
                : null,
              h(
                "div",
                { class: "dag-wrap", tabindex: 0, role: "region", "aria-label": "Planned graph" },
                dag(planned.steps),
              ),
              h(
                "ol",
                null,
                planned.steps.map((step) =>
                  h(
                    "li",
                    null,
                    h("strong", null, step.id),
                    step.kind === "agent"
                      ? ` ${step.agentId}.${step.action} ${JSON.stringify(step.params ?? {})}`
                      : ` ${step.kind}${step.message ? `: ${step.message}` : ""}`,
                  ),
                ),
              ),
              run,
            );
          } catch (error) {
            replace(preview, alertBox(errorText(error)));
          } finally {
            planIt.disabled = false;
          }
        },
      },
    },
    h("h2", null, "New plan from a goal"),
    h("div", { class: "field" }, h("label", { for: "goal" }, "Goal"), goal),
    h("p", { class: "muted" }, 'For example: "research https://example.com and email a summary to ops@example.com".'),
    h(
      "div",
      { class: "field check" },
      approval,
      h("label", { for: "goal-approval" }, "Ask for approval before anything leaves the system"),
    ),
    planIt,
    preview,
  );
}
