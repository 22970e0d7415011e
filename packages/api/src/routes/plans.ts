import type { Context } from "@nexus/core";
import * as Plans from "@nexus/core/plans";
import { actorId, denied, errors, IdParam, json, PageOf, route, StepParam, unplannable } from "../openapi.js";
import type { ApiApp } from "../router.js";

const routes = {
  createPlan: route("POST /v1/plans", {
    method: "post",
    path: "/v1/plans",
    operationId: "createPlan",
    tags: ["plans"],
    summary: "Submit a plan (steps, or a goal for the strategy planner); dryRun only validates",
    request: { body: { ...json(Plans.CreatePlanInput, "The plan"), required: true } },
    responses: {
      200: json(Plans.PlanPreview, "dryRun: the validated plan, not stored or run"),
      201: json(Plans.Plan, "Created and started"),
      ...errors,
      ...unplannable,
    },
  }),
  listPlans: route("GET /v1/plans", {
    method: "get",
    path: "/v1/plans",
    operationId: "listPlans",
    tags: ["plans"],
    summary: "List plans newest first, optionally by status",
    request: { query: Plans.ListPlansQuery },
    responses: { 200: json(PageOf(Plans.PlanSummary, "PlanPage"), "A page of plans"), 400: errors[400], ...denied },
  }),
  getPlan: route("GET /v1/plans/{id}", {
    method: "get",
    path: "/v1/plans/{id}",
    operationId: "getPlan",
    tags: ["plans"],
    summary: "A plan: its steps with status, attempts, results and errors, and its timeline",
    request: { params: IdParam },
    responses: { 200: json(Plans.Plan, "The plan"), 404: errors[404], ...denied },
  }),
  cancelPlan: route("POST /v1/plans/{id}/cancel", {
    method: "post",
    path: "/v1/plans/{id}/cancel",
    operationId: "cancelPlan",
    tags: ["plans"],
    summary: "Cancel a plan: its execution stops and the tasks in flight are cancelled",
    request: { params: IdParam },
    responses: { 200: json(Plans.Plan, "Cancelled"), 404: errors[404], 409: errors[409], ...denied },
  }),
  retryPlan: route("POST /v1/plans/{id}/retry", {
    method: "post",
    path: "/v1/plans/{id}/retry",
    operationId: "retryPlan",
    tags: ["plans"],
    summary: "Run a failed or cancelled plan again from the steps that did not succeed",
    request: { params: IdParam },
    responses: { 200: json(Plans.Plan, "Restarted"), 404: errors[404], 409: errors[409], ...denied },
  }),
  approveStep: route("POST /v1/plans/{id}/steps/{stepId}/approve", {
    method: "post",
    path: "/v1/plans/{id}/steps/{stepId}/approve",
    operationId: "approvePlanStep",
    tags: ["plans"],
    summary: "Approve an open approval gate; the plan goes on",
    request: { params: StepParam, body: { ...json(Plans.DecisionInput, "An optional comment"), required: false } },
    responses: { 200: json(Plans.Plan, "Approved"), 404: errors[404], 409: errors[409], ...denied },
  }),
  rejectStep: route("POST /v1/plans/{id}/steps/{stepId}/reject", {
    method: "post",
    path: "/v1/plans/{id}/steps/{stepId}/reject",
    operationId: "rejectPlanStep",
    tags: ["plans"],
    summary: "Reject an open approval gate; the plan fails at that step",
    request: { params: StepParam, body: { ...json(Plans.DecisionInput, "An optional comment"), required: false } },
    responses: { 200: json(Plans.Plan, "Rejected"), 404: errors[404], 409: errors[409], ...denied },
  }),
};

/** Plans: submit (steps or a goal), read, list, cancel, retry, and decide approval gates. */
export function registerPlanRoutes(app: ApiApp, options: { ctx: Context; planner?: Plans.Planner | undefined }) {
  const { ctx } = options;
  app.openapi(routes.createPlan, async (c) => {
    const created = await Plans.create(ctx, c.req.valid("json"), {
      createdBy: actorId(c.get("actor")),
      ...(options.planner ? { planner: options.planner } : {}),
    });
    if (created.dryRun) return c.json(created.preview, 200);
    c.set("auditTarget", created.plan.id);
    c.header("Location", `/v1/plans/${created.plan.id}`);
    return c.json(created.plan, 201);
  });
  app.openapi(routes.listPlans, async (c) => c.json(await Plans.list(ctx, c.req.valid("query")), 200));
  app.openapi(routes.getPlan, async (c) => c.json(await Plans.get(ctx, c.req.valid("param").id), 200));
  app.openapi(routes.cancelPlan, async (c) =>
    c.json(await Plans.cancel(ctx, c.req.valid("param").id, actorId(c.get("actor"))), 200),
  );
  app.openapi(routes.retryPlan, async (c) =>
    c.json(await Plans.retry(ctx, c.req.valid("param").id, actorId(c.get("actor"))), 200),
  );
  for (const [key, approve] of [
    ["approveStep", true],
    ["rejectStep", false],
  ] as const) {
    app.openapi(routes[key], async (c) => {
      const { id, stepId } = c.req.valid("param");
      c.set("auditTarget", `${id}/${stepId}`);
      const body: { comment?: string | undefined } = c.req.valid("json") ?? {};
      const by = actorId(c.get("actor"));
      return c.json(await Plans.decide(ctx, id, stepId, { approve, by, comment: body.comment }), 200);
    });
  }
}
