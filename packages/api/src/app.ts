import type { Logger } from "@aws-lambda-powertools/logger";
import { swaggerUI } from "@hono/swagger-ui";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  Agent,
  type AgentSpec,
  Agents,
  ListAgentsQuery,
  ListTasksQuery,
  type Context as NexusContext,
  RegisterAgentInput,
  SubmitTaskInput,
  Task,
  Tasks,
} from "@nexus/core";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import { describeIssues, ErrorBody, errorResponse, onError } from "./errors.js";

export const MAX_BODY_BYTES = 256 * 1024;
export const VERSION = "0.1.0";

export interface AppOptions {
  ctx: NexusContext;
  logger: Logger;
  /** Built-in agents to register (idempotently) before the first request is served. */
  builtinSpecs: AgentSpec[];
}

type Env = { Variables: { requestId: string } };

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
const errors = {
  400: json(ErrorBody, "Bad input; the error names the field"),
  404: json(ErrorBody, "Not found"),
  409: json(ErrorBody, "Conflict with the current state"),
  413: json(ErrorBody, "Body too large"),
};
const PageOf = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).openapi(name);
const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

const routes = {
  health: createRoute({
    method: "get",
    path: "/v1/health",
    tags: ["system"],
    responses: {
      200: json(z.object({ status: z.literal("ok"), version: z.string(), time: z.string() }), "Nexus is up"),
    },
  }),
  registerAgent: createRoute({
    method: "post",
    path: "/v1/agents",
    tags: ["agents"],
    summary: "Register a custom agent (creates its queue and DLQ)",
    request: { body: { ...json(RegisterAgentInput, "The agent"), required: true } },
    responses: { 201: json(Agent, "Registered"), ...errors },
  }),
  listAgents: createRoute({
    method: "get",
    path: "/v1/agents",
    tags: ["agents"],
    request: { query: ListAgentsQuery },
    responses: { 200: json(PageOf(Agent, "AgentPage"), "A page of agents, by name"), 400: errors[400] },
  }),
  getAgent: createRoute({
    method: "get",
    path: "/v1/agents/{id}",
    tags: ["agents"],
    request: { params: IdParam },
    responses: { 200: json(Agent, "The agent"), 404: errors[404] },
  }),
  submitTask: createRoute({
    method: "post",
    path: "/v1/tasks",
    tags: ["tasks"],
    summary: "Submit a task to an agent's action",
    request: { body: { ...json(SubmitTaskInput, "The task"), required: true } },
    responses: { 202: json(Task, "Queued (or the earlier task for a replayed idempotencyKey)"), ...errors },
  }),
  listTasks: createRoute({
    method: "get",
    path: "/v1/tasks",
    tags: ["tasks"],
    summary: "List tasks newest first, by agent and/or status",
    request: { query: ListTasksQuery },
    responses: { 200: json(PageOf(Task, "TaskPage"), "A page of tasks"), 400: errors[400] },
  }),
  getTask: createRoute({
    method: "get",
    path: "/v1/tasks/{id}",
    tags: ["tasks"],
    summary: "A task with its result, error, attempts and events",
    request: { params: IdParam },
    responses: { 200: json(Task, "The task"), 404: errors[404] },
  }),
  cancelTask: createRoute({
    method: "post",
    path: "/v1/tasks/{id}/cancel",
    tags: ["tasks"],
    summary: "Cancel a queued or running task",
    request: { params: IdParam },
    responses: { 200: json(Task, "Cancelled"), 404: errors[404], 409: errors[409] },
  }),
};

/** Registers the built-in agents once per process; a failure is retried by the next request. */
function builtinsReady(options: AppOptions): MiddlewareHandler {
  let ready: Promise<unknown> | undefined;
  return async (_c, next) => {
    ready ??= Promise.all(options.builtinSpecs.map((spec) => Agents.ensureBuiltin(options.ctx, spec))).catch(
      (error: unknown) => {
        ready = undefined;
        throw error;
      },
    );
    await ready;
    await next();
  };
}

const tooLarge = (c: Parameters<MiddlewareHandler>[0]) =>
  errorResponse(c, 413, "payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);

/** Reads and discards what is left of a refused body (up to a cap), so the client can read the 413. */
async function drain(body: ReadableStream<Uint8Array> | null, cap = 16 * 1024 * 1024) {
  if (!body) return;
  const reader = body.getReader();
  let read = 0;
  try {
    while (read < cap) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
  } catch {
    // the client went away: nothing left to drain
  } finally {
    reader.releaseLock();
  }
}

/**
 * 413 for bodies over {@link MAX_BODY_BYTES}: declared sizes are refused before reading, streamed ones as soon
 * as they pass the limit.
 */
const limitBody: MiddlewareHandler = async (c, next) => {
  const declared = Number(c.req.header("content-length") ?? Number.NaN);
  if (declared > MAX_BODY_BYTES) {
    await drain(c.req.raw.body);
    c.header("Connection", "close");
    return tooLarge(c);
  }
  return bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge })(c, next);
};

/** Bodies of writes must be JSON: anything else is a 415, not a confusing validation error. */
const jsonOnly: MiddlewareHandler = async (c, next) => {
  if (["POST", "PUT", "PATCH"].includes(c.req.method)) {
    const type = c.req.header("content-type") ?? "";
    const hasBody = c.req.header("content-length") !== "0" && (c.req.raw.body !== null || type !== "");
    if (hasBody && !/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(type)) {
      return errorResponse(c, 415, "unsupported_media_type", "send the body as application/json");
    }
  }
  await next();
};

export function createApp(options: AppOptions) {
  const { ctx, logger } = options;
  const app = new OpenAPIHono<Env>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const where = result.target === "json" ? "" : result.target;
        return errorResponse(
          c,
          400,
          "validation_error",
          `request ${result.target} is not valid`,
          describeIssues(result.error.issues, where),
        );
      }
    },
  });

  app.use("*", requestId({ headerName: "X-Request-Id" }));
  app.use("*", async (c, next) => {
    await next();
    c.header("Cache-Control", "no-store");
    c.header("X-Content-Type-Options", "nosniff");
  });
  app.use("/v1/*", limitBody);
  app.use("/v1/*", jsonOnly);
  app.use("/v1/*", builtinsReady(options));
  app.onError(onError(logger));
  app.notFound((c) => errorResponse(c, 404, "not_found", `no route for ${c.req.method} ${c.req.path}`));

  app.openapi(routes.health, (c) =>
    c.json({ status: "ok" as const, version: VERSION, time: ctx.now().toISOString() }, 200),
  );

  app.openapi(routes.registerAgent, async (c) => c.json(await Agents.register(ctx, c.req.valid("json")), 201));
  app.openapi(routes.listAgents, async (c) => c.json(await Agents.list(ctx, c.req.valid("query")), 200));
  app.openapi(routes.getAgent, async (c) => c.json(await Agents.get(ctx, c.req.valid("param").id), 200));

  app.openapi(routes.submitTask, async (c) => {
    const { task, replayed } = await Tasks.submit(ctx, c.req.valid("json"));
    if (replayed) c.header("Idempotent-Replayed", "true");
    c.header("Location", `/v1/tasks/${task.id}`);
    return c.json(task, 202);
  });
  app.openapi(routes.listTasks, async (c) => c.json(await Tasks.list(ctx, c.req.valid("query")), 200));
  app.openapi(routes.getTask, async (c) => c.json(await Tasks.get(ctx, c.req.valid("param").id), 200));
  app.openapi(routes.cancelTask, async (c) => c.json(await Tasks.cancel(ctx, c.req.valid("param").id), 200));

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Nexus API", version: VERSION, description: "Serverless agent orchestrator" },
  });
  app.get("/docs", swaggerUI({ url: "/openapi.json" }));
  return app;
}

export type App = ReturnType<typeof createApp>;
