import { AgentHealth, type Context, HeartbeatInput, NotFoundError } from "@nexus/core";
import * as Health from "@nexus/core/health";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { boundAgent, errors, IdParam, json, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const HeartbeatReceipt = /* @__PURE__ */ pure(() =>
  z.object({ agentId: z.string(), receivedAt: z.string(), health: AgentHealth }).meta({ id: "HeartbeatReceipt" }),
);

const routes = {
  heartbeat: route("POST /v1/agents/{id}/heartbeat", {
    method: "post",
    path: "/v1/agents/{id}/heartbeat",
    operationId: "sendHeartbeat",
    tags: ["agents"],
    summary: "Report that an agent is alive, with its load and recent outcomes; returns its health",
    request: {
      params: IdParam,
      body: { ...json(HeartbeatInput, "The agent's metrics (only load is needed)"), required: true },
    },
    responses: { 200: json(HeartbeatReceipt, "Recorded"), ...errors },
  }),
};

/** Heartbeats: a remote agent (its own `agent` key) or an admin reports the agent alive, with its metrics. */
export function registerHealthRoutes(app: ApiApp, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.heartbeat, async (c) => {
    const { id } = c.req.valid("param");
    const own = boundAgent(c.get("actor"));
    if (own !== undefined && own !== id) throw new NotFoundError("agent", id);
    return c.json(await Health.heartbeat(ctx, id, c.req.valid("json")), 200);
  });
}
