import type { Logger } from "@aws-lambda-powertools/logger";
import { swaggerUI } from "@hono/swagger-ui";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  Agent,
  type AgentSpec,
  Agents,
  Audit,
  Health,
  Keys,
  ListAgentsQuery,
  ListTasksQuery,
  type Context as NexusContext,
  NotFoundError,
  type Plans,
  RegisterAgentInput,
  SubmitTaskInput,
  Task,
  Tasks,
} from "@nexus/core";
import type { MiddlewareHandler } from "hono";
import { requestId } from "hono/request-id";
import { describeIssues, ErrorBody, errorResponse, onError } from "./errors.js";
import { audit, auditEntry, authenticate, closeUnread, type Env, jsonOnly, limitBody } from "./middleware.js";
import { boundAgent, denied, errors, IdParam, json, PageOf, PageQuery, route } from "./openapi.js";
import { registerFailureRoutes } from "./routes/failures.js";
import { registerHealthRoutes } from "./routes/health.js";
import { registerPlanRoutes } from "./routes/plans.js";
import { registerRemoteRoutes } from "./routes/remote.js";
import { registerScheduleRoutes } from "./routes/schedules.js";

export { ACCESS, type RouteKey } from "./access.js";
export { MAX_BODY_BYTES } from "./middleware.js";
export const VERSION = "0.1.0";

export interface AppOptions {
  ctx: NexusContext;
  logger: Logger;
  /** Built-in agents to register (idempotently) before the first request is served. */
  builtinSpecs: AgentSpec[];
  /** Writes plans for goals (`POST /v1/plans {goal}`); without one, plans need their steps. */
  planner?: Plans.Planner;
}

const DeleteAgentQuery = z.strictObject({
  force: z.enum(["true", "false"]).default("false").describe("true cancels the agent's queued and running tasks"),
});
const routes = {
  registerAgent: route("POST /v1/agents", {
    method: "post",
    path: "/v1/agents",
    tags: ["agents"],
    summary: "Register a custom agent (creates its queue and DLQ)",
    request: { body: { ...json(RegisterAgentInput, "The agent"), required: true } },
    responses: { 201: json(Agent, "Registered"), ...errors },
  }),
  listAgents: route("GET /v1/agents", {
    method: "get",
    path: "/v1/agents",
    tags: ["agents"],
    request: { query: ListAgentsQuery },
    responses: { 200: json(PageOf(Agent, "AgentPage"), "A page of agents, by name"), 400: errors[400], ...denied },
  }),
  getAgent: route("GET /v1/agents/{id}", {
    method: "get",
    path: "/v1/agents/{id}",
    tags: ["agents"],
    request: { params: IdParam },
    responses: { 200: json(Agent, "The agent"), 404: errors[404], ...denied },
  }),
  deactivateAgent: route("POST /v1/agents/{id}/deactivate", {
    method: "post",
    path: "/v1/agents/{id}/deactivate",
    tags: ["agents"],
    summary: "Take an agent out of service: no new tasks (409); its queued tasks wait, untouched",
    request: { params: IdParam },
    responses: { 200: json(Agent, "The agent, inactive"), 404: errors[404], ...denied },
  }),
  reactivateAgent: route("POST /v1/agents/{id}/reactivate", {
    method: "post",
    path: "/v1/agents/{id}/reactivate",
    tags: ["agents"],
    summary: "Put an agent back in service; its queued tasks run",
    request: { params: IdParam },
    responses: { 200: json(Agent, "The agent, active"), 404: errors[404], ...denied },
  }),
  deleteAgent: route("DELETE /v1/agents/{id}", {
    method: "delete",
    path: "/v1/agents/{id}",
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
  submitTask: route("POST /v1/tasks", {
    method: "post",
    path: "/v1/tasks",
    tags: ["tasks"],
    summary: "Submit a task to an agent's action",
    request: { body: { ...json(SubmitTaskInput, "The task"), required: true } },
    responses: { 202: json(Task, "Queued (or the earlier task for a replayed idempotencyKey)"), ...errors },
  }),
  listTasks: route("GET /v1/tasks", {
    method: "get",
    path: "/v1/tasks",
    tags: ["tasks"],
    summary: "List tasks newest first, by agent and/or status",
    request: { query: ListTasksQuery },
    responses: { 200: json(PageOf(Task, "TaskPage"), "A page of tasks"), 400: errors[400], ...denied },
  }),
  getTask: route("GET /v1/tasks/{id}", {
    method: "get",
    path: "/v1/tasks/{id}",
    tags: ["tasks"],
    summary: "A task with its result, error, attempts and events",
    request: { params: IdParam },
    responses: { 200: json(Task, "The task"), 404: errors[404], ...denied },
  }),
  cancelTask: route("POST /v1/tasks/{id}/cancel", {
    method: "post",
    path: "/v1/tasks/{id}/cancel",
    tags: ["tasks"],
    summary: "Cancel a queued or running task",
    request: { params: IdParam },
    responses: { 200: json(Task, "Cancelled"), 404: errors[404], 409: errors[409], ...denied },
  }),
  createKey: route("POST /v1/keys", {
    method: "post",
    path: "/v1/keys",
    tags: ["keys"],
    summary: "Create an API key; the key itself is in this response only",
    request: { body: { ...json(Keys.CreateKeyInput, "The key"), required: true } },
    responses: {
      201: json(Keys.ApiKey.extend({ key: z.string().describe("The secret key: shown once") }), "Created"),
      ...errors,
    },
  }),
  listKeys: route("GET /v1/keys", {
    method: "get",
    path: "/v1/keys",
    tags: ["keys"],
    summary: "API keys, newest first (never their secrets)",
    request: { query: PageQuery },
    responses: { 200: json(PageOf(Keys.ApiKey, "ApiKeyPage"), "A page of keys"), 400: errors[400], ...denied },
  }),
  getKey: route("GET /v1/keys/{id}", {
    method: "get",
    path: "/v1/keys/{id}",
    tags: ["keys"],
    request: { params: IdParam },
    responses: { 200: json(Keys.ApiKey, "The key"), 404: errors[404], ...denied },
  }),
  revokeKey: route("DELETE /v1/keys/{id}", {
    method: "delete",
    path: "/v1/keys/{id}",
    tags: ["keys"],
    summary: "Revoke a key for good",
    request: { params: IdParam },
    responses: { 200: json(Keys.ApiKey, "Revoked"), 404: errors[404], 409: errors[409], ...denied },
  }),
  listAudit: route("GET /v1/audit", {
    method: "get",
    path: "/v1/audit",
    tags: ["audit"],
    summary: "The audit trail of mutating requests, newest first",
    request: { query: PageQuery },
    responses: {
      200: json(PageOf(Audit.AuditRecord, "AuditPage"), "A page of records"),
      400: errors[400],
      ...denied,
    },
  }),
};

/** The built-in agents this deployment runs: those with a queue (a stack may deploy only some). */
function deployedBuiltins(options: AppOptions) {
  return options.builtinSpecs.filter((spec) => {
    if (spec.id in options.ctx.builtinQueues) return true;
    options.logger.warn("built-in agent has no queue configured; not registered", { agentId: spec.id });
    return false;
  });
}

/** Registers the built-in agents once per process; a failure is retried by the next request. */
function builtinsReady(options: AppOptions): MiddlewareHandler {
  let ready: Promise<unknown> | undefined;
  return async (_c, next) => {
    ready ??= Promise.all(deployedBuiltins(options).map((spec) => Agents.ensureBuiltin(options.ctx, spec))).catch(
      (error: unknown) => {
        ready = undefined;
        throw error;
      },
    );
    await ready;
    await next();
  };
}

export function createApp(options: AppOptions) {
  const { ctx, logger } = options;
  const app = new OpenAPIHono<Env>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const target = result.target === "json" ? "body" : result.target;
        const root = result.target === "json" ? undefined : target;
        const issues = describeIssues(result.error.issues, root);
        if (result.target === "json" && c.get("emptyBody")) {
          const missing = { path: "(body)", message: "a JSON body is required", code: "missing_body" };
          return errorResponse(c, 400, "validation_error", "request body is missing", [missing, ...issues]);
        }
        return errorResponse(c, 400, "validation_error", `request ${target} is not valid`, issues);
      }
    },
  });

  app.use("*", requestId({ headerName: "X-Request-Id" }));
  app.use("*", async (c, next) => {
    await next();
    c.header("Cache-Control", "no-store");
    c.header("X-Content-Type-Options", "nosniff");
  });
  app.use("/v1/*", closeUnread);
  app.use("/v1/*", audit(ctx, logger));
  // Who is asking comes first: nothing of a body is read for a caller without a valid key.
  app.use("/v1/*", authenticate(ctx));
  app.use("/v1/*", limitBody);
  app.use("/v1/*", jsonOnly);
  app.use("/v1/*", builtinsReady(options));
  app.onError(onError(logger));
  app.notFound((c) => errorResponse(c, 404, "not_found", `no route for ${c.req.method} ${c.req.path}`));

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/health",
      tags: ["system"],
      summary: "Liveness; needs no key",
      responses: {
        200: json(z.object({ status: z.literal("ok"), version: z.string(), time: z.string() }), "Nexus is up"),
      },
    }),
    (c) => c.json({ status: "ok" as const, version: VERSION, time: ctx.now().toISOString() }, 200),
  );

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

  app.openapi(routes.submitTask, async (c) => {
    const { task, replayed, audited, enqueued } = await Tasks.submit(ctx, c.req.valid("json"), {
      audit: auditEntry(c),
    });
    c.set("auditTarget", task.id);
    if (audited) c.set("audited", true);
    if (!enqueued) logger.warn("task stored but not enqueued; the sweeper will re-send it", { taskId: task.id });
    if (replayed) c.header("Idempotent-Replayed", "true");
    c.header("Location", `/v1/tasks/${task.id}`);
    return c.json(task, 202);
  });
  app.openapi(routes.listTasks, async (c) => {
    const query = c.req.valid("query");
    const own = boundAgent(c.get("actor"));
    if (own !== undefined) {
      if (query.agentId !== undefined && query.agentId !== own) {
        throw new Keys.ForbiddenError("an agent key may list only its own agent's tasks");
      }
      query.agentId = own;
    }
    return c.json(await Tasks.list(ctx, query), 200);
  });
  app.openapi(routes.getTask, async (c) => {
    const { id } = c.req.valid("param");
    const task = await Tasks.get(ctx, id);
    const own = boundAgent(c.get("actor"));
    if (own !== undefined && task.agentId !== own) throw new NotFoundError("task", id);
    return c.json(task, 200);
  });
  app.openapi(routes.cancelTask, async (c) => c.json(await Tasks.cancel(ctx, c.req.valid("param").id), 200));

  registerPlanRoutes(app, options);
  registerScheduleRoutes(app, options);
  registerHealthRoutes(app, options);
  registerRemoteRoutes(app, options);
  registerFailureRoutes(app, options);

  app.openapi(routes.createKey, async (c) => {
    const { key, token } = await Keys.create(ctx, c.req.valid("json"), c.get("actor")?.keyId ?? "unknown");
    c.set("auditTarget", key.id);
    return c.json({ ...key, key: token }, 201);
  });
  app.openapi(routes.listKeys, async (c) => c.json(await Keys.list(ctx, c.req.valid("query")), 200));
  app.openapi(routes.getKey, async (c) => c.json(await Keys.get(ctx, c.req.valid("param").id), 200));
  app.openapi(routes.revokeKey, async (c) => {
    const actor = c.get("actor");
    if (!actor) throw new Keys.UnauthorizedError();
    return c.json(await Keys.revoke(ctx, c.req.valid("param").id, actor), 200);
  });
  app.openapi(routes.listAudit, async (c) => c.json(await Audit.list(ctx, c.req.valid("query")), 200));

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key: Authorization: Bearer nxk_…",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Nexus API", version: VERSION, description: "Serverless agent orchestrator" },
  });
  app.get("/docs", swaggerUI({ url: "/openapi.json" }));
  return app;
}

export type App = ReturnType<typeof createApp>;
