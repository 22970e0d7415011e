import { get, post } from "../api.js";
import { badge, h, replace, time } from "../dom.js";
import type { FeedEvent } from "../feed.js";
import type { PageContext } from "../main.js";
import type { Plan, PlanStep as Step } from "../types.js";
import { actionButton, costFacts, reloadOn } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const svg = (tag: string, attrs: Record<string, string | number>, ...children: Array<Node | string>) => {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child);
  return el;
};

/** The steps in layers (a step one layer below its deepest dependency), drawn left to right with their edges. */
export function dag(steps: Step[]) {
  const depth = new Map<string, number>();
  const depthOf = (step: Step, seen = new Set<string>()): number => {
    const known = depth.get(step.id);
    if (known !== undefined) return known;
    if (seen.has(step.id)) return 0;
    seen.add(step.id);
    const parents = step.dependsOn.map((id) => steps.find((s) => s.id === id)).filter((s): s is Step => Boolean(s));
    const d = parents.length === 0 ? 0 : Math.max(...parents.map((p) => depthOf(p, seen))) + 1;
    depth.set(step.id, d);
    return d;
  };
  for (const step of steps) depthOf(step);
  const layers: Step[][] = [];
  for (const step of steps) {
    const d = depth.get(step.id) ?? 0;
    layers[d] = [...(layers[d] ?? []), step];
  }
  const W = 170;
  const H = 54;
  const GX = 50;
  const GY = 18;
  const pos = new Map<string, { x: number; y: number }>();
  for (const [i, layer] of layers.entries()) {
    for (const [j, step] of layer.entries()) pos.set(step.id, { x: i * (W + GX) + 10, y: j * (H + GY) + 10 });
  }
  const width = layers.length * (W + GX) + 10;
  const height = Math.max(...layers.map((l) => l.length)) * (H + GY) + 10;
  const edges = steps.flatMap((step) =>
    step.dependsOn.map((parent) => {
      const a = pos.get(parent);
      const b = pos.get(step.id);
      if (!a || !b) return svg("g", {});
      return svg("path", {
        d: `M${a.x + W},${a.y + H / 2} C${a.x + W + GX / 2},${a.y + H / 2} ${b.x - GX / 2},${b.y + H / 2} ${b.x},${b.y + H / 2}`,
        class: "edge",
        "marker-end": "url(#arrow)",
      });
    }),
  );
  const nodes = steps.map((step) => {
    const p = pos.get(step.id) ?? { x: 0, y: 0 };
    const label = step.kind === "agent" ? `${step.agentId}.${step.action}` : step.kind;
    const box = svg(
      "g",
      { class: `node s-${step.status}`, transform: `translate(${p.x},${p.y})` },
      svg("title", {}, `${step.id}: ${label}, ${step.status}`),
      svg("rect", { width: W, height: H, rx: 6 }),
      svg("text", { x: 10, y: 20, class: "node-id" }, step.id),
      svg("text", { x: 10, y: 38, class: "node-label" }, `${label.slice(0, 20)} · ${step.status.replace("_", " ")}`),
    );
    if (!step.taskId) return box;
    const link = svg("a", { href: `#/tasks/${step.taskId}` }, box);
    return link;
  });
  return svg(
    "svg",
    {
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      role: "group",
      "aria-label": `Plan graph: ${steps.length} steps`,
      class: "dag",
    },
    svg(
      "defs",
      {},
      svg(
        "marker",
        { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" },
        svg("path", { d: "M0,0 L10,5 L0,10 z" }),
      ),
    ),
    ...edges,
    ...nodes,
  );
}

/** A plan: its DAG (live), each step with its task; approve or reject gates with a comment; cancel; retry. */
export async function planPage(ctx: PageContext) {
  const id = ctx.path[1] ?? "";
  ctx.title(`Plan ${id}`);
  const status = h("div", { "aria-live": "polite" });
  const body = h("div");
  replace(ctx.root, h("h1", null, "Plan ", h("code", null, id)), status, body);
  const load = async () => {
    const plan = await get<Plan>(`/v1/plans/${encodeURIComponent(id)}`);
    const base = `/v1/plans/${encodeURIComponent(id)}`;
    const open = ["pending", "running", "waiting_approval"].includes(plan.status);
    const controls: Node[] = [];
    if (open && ctx.can("POST /v1/plans/{id}/cancel")) {
      controls.push(
        actionButton(
          "Cancel plan",
          async () => {
            await post(`${base}/cancel`);
            await load();
            return "Cancelled.";
          },
          { status, danger: true },
        ),
      );
    }
    if (["failed", "cancelled"].includes(plan.status) && ctx.can("POST /v1/plans/{id}/retry")) {
      controls.push(
        actionButton(
          "Retry from the failed step",
          async () => {
            await post(`${base}/retry`);
            await load();
            return "Running again from the steps that did not succeed.";
          },
          { status },
        ),
      );
    }
    const gates = plan.steps.filter((s) => s.kind === "approval" && s.status === "waiting_approval");
    replace(
      body,
      h("p", null, h("strong", null, plan.name), " ", badge(plan.status), " created ", time(plan.createdAt)),
      plan.cost ? h("dl", { class: "facts" }, costFacts(plan.cost)) : null,
      plan.goal ? h("p", null, "Goal: ", plan.goal) : null,
      plan.planner
        ? h(
            "p",
            { class: "muted" },
            `Planned by ${plan.planner.name}${plan.planner.rule ? ` (${plan.planner.rule})` : ""}: ${plan.planner.explanation}`,
          )
        : null,
      plan.error
        ? h(
            "div",
            { class: "alert", role: "alert" },
            `${plan.error.stepId ? `step ${plan.error.stepId}: ` : ""}${plan.error.code}: ${plan.error.message}`,
          )
        : null,
      h(
        "div",
        { class: "controls" },
        controls,
        h("a", { href: `#/tasks?planId=${encodeURIComponent(id)}` }, "Its tasks"),
      ),
      gates.map((gate) => gateBox(ctx, base, gate, status, load)),
      h("div", { class: "dag-wrap", tabindex: 0, role: "region", "aria-label": "Plan graph" }, dag(plan.steps)),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          null,
          h("caption", { class: "sr-only" }, "Steps"),
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Step", "Kind", "Agent and action", "Depends on", "Status", "Task"].map((t) =>
                h("th", { scope: "col" }, t),
              ),
            ),
          ),
          h(
            "tbody",
            null,
            plan.steps.map((step) =>
              h(
                "tr",
                null,
                h("td", null, step.id),
                h("td", null, step.kind),
                h("td", null, step.kind === "agent" ? `${step.agentId}.${step.action}` : (step.message ?? "")),
                h("td", null, step.dependsOn.join(", ")),
                h(
                  "td",
                  null,
                  badge(step.status),
                  step.decidedBy ? ` by ${step.decidedBy}` : "",
                  step.error ? ` ${step.error.code}: ${step.error.message}` : "",
                ),
                h(
                  "td",
                  null,
                  step.taskId ? h("a", { href: `#/tasks/${step.taskId}` }, h("code", null, step.taskId)) : "—",
                ),
              ),
            ),
          ),
        ),
      ),
      h("h2", null, "Timeline"),
      h(
        "ol",
        { class: "timeline" },
        plan.events.map((e) =>
          h(
            "li",
            null,
            time(e.at),
            " ",
            badge(e.type),
            e.stepId ? ` ${e.stepId}` : "",
            e.by ? ` by ${e.by}` : "",
            e.message ? ` ${e.message}` : "",
          ),
        ),
      ),
    );
  };
  await load();
  reloadOn(ctx, (e: FeedEvent) => e.planId === id, load);
}

function gateBox(ctx: PageContext, base: string, gate: Step, status: HTMLElement, reload: () => Promise<void>) {
  if (!ctx.can("POST /v1/plans/{id}/steps/{stepId}/approve")) {
    return h(
      "section",
      { class: "card gate" },
      h("h2", null, `Waiting for approval: ${gate.id}`),
      h("p", null, gate.message ?? ""),
    );
  }
  const commentId = `comment-${gate.id}`;
  const comment = h("textarea", { id: commentId, rows: 2, maxlength: 2000 });
  const decide = (verb: "approve" | "reject") => async () => {
    await post(`${base}/steps/${encodeURIComponent(gate.id)}/${verb}`, comment.value ? { comment: comment.value } : {});
    await reload();
    return verb === "approve" ? `Approved ${gate.id}.` : `Rejected ${gate.id}: the plan fails.`;
  };
  return h(
    "section",
    { class: "card gate" },
    h("h2", null, `Waiting for approval: ${gate.id}`),
    h("p", null, gate.message ?? ""),
    h("div", { class: "field" }, h("label", { for: commentId }, "Comment (optional)"), comment),
    h(
      "div",
      { class: "controls" },
      actionButton("Approve", decide("approve"), { status, id: `approve-${gate.id}` }),
      " ",
      actionButton("Reject", decide("reject"), { status, danger: true, id: `reject-${gate.id}` }),
    ),
  );
}
