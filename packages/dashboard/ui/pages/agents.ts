import { api, get, post } from "../api.js";
import { badge, h, json, replace, time } from "../dom.js";
import type { PageContext } from "../main.js";
import type { Agent, Page } from "../types.js";
import { actionButton, confirmButton, filterSelect, reloadOn, table } from "./common.js";

const health = (agent: Agent) => agent.health?.status ?? "unknown";
const heartbeatAge = (agent: Agent) => time(agent.health?.lastHeartbeatAt ?? agent.lastHeartbeatAt);

/** Agents: status, health and its reason, load, last success, heartbeat age; filtered by health. */
export async function agentsPage(ctx: PageContext) {
  ctx.title("Agents");
  const wanted = ctx.query.get("health");
  const list = h("div");
  replace(
    ctx.root,
    h("h1", null, "Agents"),
    h(
      "div",
      { class: "filters" },
      filterSelect("Health", "health", ["online", "degraded", "offline", "unknown"], ctx.query, "agents"),
    ),
    list,
  );
  const load = async () => {
    const page = await get<Page<Agent>>("/v1/agents?limit=100");
    const agents = page.items.filter((agent) => !wanted || health(agent) === wanted);
    replace(
      list,
      table(
        "Agents",
        ["Agent", "Status", "Health", "Reason", "Load", "Last success", "Heartbeat"],
        agents.map((agent) => [
          h("a", { href: `#/agents/${encodeURIComponent(agent.id)}` }, agent.name),
          badge(agent.status),
          badge(health(agent)),
          h("span", null, agent.health?.reason ?? ""),
          h("span", null, String(agent.health?.heartbeat?.load ?? "—")),
          time(agent.health?.heartbeat?.lastSuccess?.at),
          heartbeatAge(agent),
        ]),
      ),
    );
  };
  await load();
  reloadOn(ctx, (e: { kind: string }) => e.kind === "agent", load);
}

/** One agent: its health with queue and DLQ depths, its actions and their params schemas; (de)activate, delete. */
export async function agentPage(ctx: PageContext) {
  const id = ctx.path[1] ?? "";
  ctx.title(`Agent ${id}`);
  const status = h("div", { "aria-live": "polite" });
  const body = h("div");
  replace(ctx.root, h("h1", null, `Agent ${id}`), status, body);
  const load = async () => {
    const agent = await get<Agent>(`/v1/agents/${encodeURIComponent(id)}`);
    const controls: Node[] = [];
    if (agent.status === "active" && ctx.can("POST /v1/agents/{id}/deactivate")) {
      controls.push(
        actionButton(
          "Deactivate",
          async () => {
            await post(`/v1/agents/${encodeURIComponent(id)}/deactivate`);
            await load();
            return "Deactivated: new tasks are refused; queued ones wait until it is reactivated.";
          },
          { status },
        ),
      );
    }
    if (agent.status === "inactive" && ctx.can("POST /v1/agents/{id}/reactivate")) {
      controls.push(
        actionButton(
          "Reactivate",
          async () => {
            await post(`/v1/agents/${encodeURIComponent(id)}/reactivate`);
            await load();
            return "Reactivated: its queue is consumed again.";
          },
          { status },
        ),
      );
    }
    if (!agent.builtin && ctx.can("DELETE /v1/agents/{id}")) {
      controls.push(
        confirmButton(
          "Delete…",
          `Delete agent ${id}? Its queued and running tasks are cancelled, its queue and dead-letter queue are deleted. Its finished tasks stay readable.`,
          "Delete agent",
          async () => {
            await api("DELETE", `/v1/agents/${encodeURIComponent(id)}?force=true`);
            location.hash = "#/agents";
            return undefined;
          },
          status,
        ),
      );
    }
    const hh = agent.health;
    replace(
      body,
      h("p", null, agent.description),
      h("div", { class: "controls" }, controls),
      h(
        "dl",
        { class: "facts" },
        h("dt", null, "Status"),
        h("dd", null, badge(agent.status)),
        h("dt", null, "Health"),
        h("dd", null, badge(hh?.status ?? "unknown"), " ", hh?.reason ?? ""),
        h("dt", null, "Since"),
        h("dd", null, time(hh?.since)),
        h("dt", null, "Heartbeat"),
        h("dd", null, time(hh?.lastHeartbeatAt ?? agent.lastHeartbeatAt)),
        h("dt", null, "Load"),
        h("dd", null, String(hh?.heartbeat?.load ?? "—")),
        h("dt", null, "Last success"),
        h(
          "dd",
          null,
          hh?.heartbeat?.lastSuccess
            ? h("a", { href: `#/tasks/${hh.heartbeat.lastSuccess.taskId}` }, time(hh.heartbeat.lastSuccess.at))
            : "—",
        ),
        h("dt", null, "Queue depth"),
        h("dd", null, String(hh?.queueDepth ?? "—")),
        h("dt", null, "DLQ depth"),
        h(
          "dd",
          null,
          hh?.dlqDepth
            ? h("a", { href: `#/failures?agentId=${id}` }, String(hh.dlqDepth))
            : String(hh?.dlqDepth ?? "—"),
        ),
      ),
      h("p", null, h("a", { href: `#/tasks?agentId=${encodeURIComponent(id)}` }, "Its tasks")),
      h("h2", null, "Actions"),
      agent.actions.map((action) =>
        h(
          "section",
          { class: "card" },
          h("h3", null, action.name),
          h("p", null, action.description),
          h(
            "p",
            { class: "muted" },
            `up to ${action.retry?.maxAttempts ?? 3} attempts, ${action.timeoutSeconds ?? 60} s each`,
          ),
          ctx.can("POST /v1/tasks") && agent.status === "active"
            ? h(
                "p",
                null,
                h(
                  "a",
                  {
                    href: `#/run?agentId=${encodeURIComponent(id)}&action=${encodeURIComponent(action.name)}`,
                    class: "button",
                  },
                  `Run ${action.name}`,
                ),
              )
            : null,
          h("details", null, h("summary", null, "Params schema"), json(action.params)),
        ),
      ),
    );
  };
  await load();
  reloadOn(ctx, (e: { kind: string; agentId?: string }) => e.kind === "agent" && e.agentId === id, load);
}
