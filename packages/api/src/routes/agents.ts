import { Agent, type Context, ListAgentsQuery, NotFoundError, RegisterAgentInput } from "@nexus/core";
import * as Agents from "@nexus/core/agents";
import * as Health from "@nexus/core/health";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { ErrorBody } from "../errors.js";
import { boundAgent, denied, errors, IdParam, json, PageOf, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const DeleteAgentQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({
    force: z.enum(["true", "false"]).default("false").describe("true cancels the agent's queued and running tasks"),
  }),
);

const routes = {
  registerAgent: route("POST /v1/agents", {
    method: "post",
    path: "/v1/agents",
    operationId: "registerAgent",
    tags: ["agents"],
    summary: "Register a custom agent (creates its queue and DLQ)",
    request: { body: { ...json(RegisterAgentInput, "The agent"), required: true } },
    responses: { 201: json(Agent, "Registered"), ...errors },
  }),
  listAgents: route("GET /v1/agents", {
    method: "get",
    path: "/v1/agents",
    operationId: "listAgents",
    tags: ["agents"],
    summary: "List agents by name, with their health",
    request: { query: ListAgentsQuery },
    responses: { 200: json(PageOf(Agent, "AgentPage"), "A page of agents, by name"), 400: errors[400], ...denied },
  }),
  getAgent: route("GET /v1/agents/{id}", {
    method: "get",
    path: "/v1/agents/{id}",
    operationId: "getAgent",
    tags: ["agents"],
    summary: "An agent with its actions, health and queue depths",
    request: { params: IdParam },
    responses: { 200: json(Agent, "The agent"), 404: errors[404], ...denied },
  }),
  deactivateAgent: route("POST /v1/agents/{id}/deactivate", {
    method: "post",
    path: "/v1/agents/{id}/deactivate",
    operationId: "deactivateAgent",
    tags: ["agents"],
    summary: "Take an agent out of service: no new tasks (409); its queued tasks wait, untouched",
    request: { params: IdParam },
    responses: { 200: json(Agent, "The agent, inactive"), 404: errors[404], ...denied },
  }),
  reactivateAgent: route("POST /v1/agents/{id}/reactivate", {
    method: "post",
    path: "/v1/agents/{id}/reactivate",
    operationId: "reactivateAgent",
    tags: ["agents"],
    summary: "Put an agent back in service; its queued tasks run",
    request: { params: IdParam },
    responses: { 200: json(Agent, "The agent, active"), 404: errors[404], ...denied },
  }),
  deleteAgent: route("DELETE /v1/agents/{id}", {
    method: "delete",
    path: "/v1/agents/{id}",
    operationId: "deleteAgent",
    tags: ["agents"],
    summary: "Delete a custom agent and its queues; its task history stays readable",
    request: { params: IdParam, query: DeleteAgentQuery },
    responses: {
      200: json(z.object({ id: z.string(), deleted: z.literal(true), cancelledTasks: z.number().int() }), "Deleted"),
      404: errors[404],
      409: json(ErrorBody, "A built-in agent, or queued/running tasks without force=true"),
      ...denied,
    },
  }),
};

/** Agents: register a custom one, list and read them with their health, take one out of service or back, delete. */
export function registerAgentRoutes(app: ApiApp, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.registerAgent, async (c) => {
    const agent = await Agents.register(ctx, c.req.valid("json"));
    c.set("auditTarget", agent.id);
    return c.json(agent, 201);
  });
  app.openapi(routes.listAgents, async (c) =>
    c.json(Health.summarizePage(ctx, await Agents.list(ctx, c.req.valid("query"))), 200),
  );
  app.openapi(routes.getAgent, async (c) => {
    const { id } = c.req.valid("param");
    const own = boundAgent(c.get("actor"));
    if (own !== undefined && own !== id) throw new NotFoundError("agent", id);
    return c.json(await Health.describe(ctx, await Agents.get(ctx, id)), 200);
  });
  app.openapi(routes.deactivateAgent, async (c) =>
    c.json(Health.summarize(ctx, await Agents.setStatus(ctx, c.req.valid("param").id, "inactive")), 200),
  );
  app.openapi(routes.reactivateAgent, async (c) =>
    c.json(Health.summarize(ctx, await Agents.setStatus(ctx, c.req.valid("param").id, "active")), 200),
  );
  app.openapi(routes.deleteAgent, async (c) => {
    const { id } = c.req.valid("param");
    const { cancelled } = await Agents.remove(ctx, id, { force: c.req.valid("query").force === "true" });
    return c.json({ id, deleted: true as const, cancelledTasks: cancelled }, 200);
  });
}
