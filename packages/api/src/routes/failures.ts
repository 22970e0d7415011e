import { type Context, Task } from "@nexus/core";
import * as Failures from "@nexus/core/failures";
import { pure } from "@nexus/core/pure";
import * as Tasks from "@nexus/core/tasks";
import * as z from "zod";
import { actorId, denied, errors, IdParam, json, PageOf, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const Redriven = /* @__PURE__ */ pure(() =>
  z
    .object({
      failure: Failures.Failure,
      task: Task.nullable().describe("The new task (null: the message was re-sent)"),
    })
    .meta({ id: "Redriven" }),
);
const BulkRedriven = /* @__PURE__ */ pure(() =>
  z
    .object({
      redriven: z.array(z.object({ failureId: z.string(), taskId: z.string().nullable() })),
      skipped: z.array(z.object({ failureId: z.string(), code: z.string(), message: z.string() })),
    })
    .meta({ id: "BulkRedriven" }),
);

const routes = {
  listFailures: route("GET /v1/failures", {
    method: "get",
    path: "/v1/failures",
    operationId: "listFailures",
    tags: ["failures"],
    summary: "The failures inbox: failed tasks and dead-lettered messages, newest first",
    request: { query: Failures.ListFailuresQuery },
    responses: {
      200: json(PageOf(Failures.Failure, "FailurePage"), "A page of failures"),
      400: errors[400],
      ...denied,
    },
  }),
  getFailure: route("GET /v1/failures/{id}", {
    method: "get",
    path: "/v1/failures/{id}",
    operationId: "getFailure",
    tags: ["failures"],
    summary: "A failure: the task or message, its error and attempts",
    request: { params: IdParam },
    responses: { 200: json(Failures.Failure, "The failure"), 404: errors[404], ...denied },
  }),
  redriveFailure: route("POST /v1/failures/{id}/redrive", {
    method: "post",
    path: "/v1/failures/{id}/redrive",
    operationId: "redriveFailure",
    tags: ["failures"],
    summary: "Run a failed task again as a new task (params optionally edited), once",
    request: {
      params: IdParam,
      body: { ...json(Failures.RedriveInput, "Edited params (optional)"), required: false },
    },
    responses: { 201: json(Redriven, "Redriven"), ...errors },
  }),
  redriveAgentFailures: route("POST /v1/failures/redrive", {
    method: "post",
    path: "/v1/failures/redrive",
    operationId: "redriveAgentFailures",
    tags: ["failures"],
    summary: "Redrive an agent's open failures, oldest first",
    request: { body: { ...json(Failures.BulkRedriveInput, "Which agent, how many"), required: true } },
    responses: { 200: json(BulkRedriven, "What was redriven and what was skipped, with why"), ...errors },
  }),
};

/** The failures inbox: list, read, redrive one (optionally with edited params) or an agent's all. */
export function registerFailureRoutes(app: ApiApp, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.listFailures, async (c) => c.json(await Failures.list(ctx, c.req.valid("query")), 200));
  app.openapi(routes.getFailure, async (c) => c.json(await Failures.get(ctx, c.req.valid("param").id), 200));
  app.openapi(routes.redriveFailure, async (c) => {
    const { id } = c.req.valid("param");
    const body: { params?: unknown } = c.req.valid("json") ?? {};
    const result = await Failures.redrive(ctx, id, {
      by: actorId(c.get("actor")),
      params: body.params,
      hasParams: Object.hasOwn(body, "params"),
    });
    c.set("auditTarget", id);
    return c.json({ failure: result.failure, task: result.task ? Tasks.toPublic(result.task) : null }, 201);
  });
  app.openapi(routes.redriveAgentFailures, async (c) => {
    const { agentId, max } = c.req.valid("json");
    c.set("auditTarget", agentId);
    return c.json(await Failures.redriveAgent(ctx, agentId, { by: actorId(c.get("actor")), max }), 200);
  });
}
