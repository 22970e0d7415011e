import {
  type Context,
  ListTasksQuery,
  type Logger,
  NotFoundError,
  SubmitTaskInput,
  SubmitTasksInput,
  SubmittedTasks,
  Task,
} from "@nexus/core";
import * as Keys from "@nexus/core/keys";
import * as Payloads from "@nexus/core/payloads";
import * as TaskLogs from "@nexus/core/task-logs";
import * as Tasks from "@nexus/core/tasks";
import type { Context as HonoContext } from "hono";
import * as z from "zod";
import type { RouteKey } from "../access.js";
import { auditEntry, type Env } from "../middleware.js";
import { boundAgent, denied, errors, IdParam, json, PageOf, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

/** `GET /v1/tasks/{id}/params` and `/result`: the JSON, or (in AWS, when kept in S3) a redirect to a presigned URL. */
function downloadRoute(kind: Payloads.PayloadKind) {
  const key: RouteKey = `GET /v1/tasks/{id}/${kind}`;
  return route(key, {
    method: "get",
    path: `/v1/tasks/{id}/${kind}`,
    operationId: kind === "params" ? "getTaskParams" : "getTaskResult",
    tags: ["tasks"],
    summary: `A task's ${kind}, whatever its size`,
    request: { params: IdParam },
    responses: {
      200: { content: { "application/json": { schema: z.unknown() } }, description: `The ${kind} (JSON)` },
      302: { description: "Kept in object storage: a short-lived download URL (Location)" },
      404: errors[404],
      ...denied,
    },
  });
}

const routes = {
  submitTask: route("POST /v1/tasks", {
    method: "post",
    path: "/v1/tasks",
    operationId: "submitTask",
    tags: ["tasks"],
    summary: "Submit a task to an agent's action",
    request: { body: { ...json(SubmitTaskInput, "The task"), required: true } },
    responses: { 202: json(Task, "Queued (or the earlier task for a replayed idempotencyKey)"), ...errors },
  }),
  submitTasks: route("POST /v1/tasks/batch", {
    method: "post",
    path: "/v1/tasks/batch",
    operationId: "submitTasks",
    tags: ["tasks"],
    summary: "Submit up to 100 tasks in one request",
    description:
      "Every task is checked first: one that would be refused alone refuses the whole batch with its status, the " +
      "message and field naming it (`tasks[3]: …`), and nothing is queued. A task with an idempotencyKey is " +
      "submitted as `POST /v1/tasks` does it (a replay returns the earlier task), so a batch whose tasks all carry " +
      "keys is safe to retry. Counts as one request against the key's rate limit.",
    request: { body: { ...json(SubmitTasksInput, "The tasks"), required: true } },
    responses: { 202: json(SubmittedTasks, "Queued, in the order given"), ...errors },
  }),
  listTasks: route("GET /v1/tasks", {
    method: "get",
    path: "/v1/tasks",
    operationId: "listTasks",
    tags: ["tasks"],
    summary: "List tasks newest first, by agent, status and/or plan",
    request: { query: ListTasksQuery },
    responses: {
      200: json(PageOf(Task, "TaskPage"), "A page of tasks"),
      400: errors[400],
      404: errors[404],
      ...denied,
    },
  }),
  getTask: route("GET /v1/tasks/{id}", {
    method: "get",
    path: "/v1/tasks/{id}",
    operationId: "getTask",
    tags: ["tasks"],
    summary: "A task with its result, error, attempts and events",
    request: { params: IdParam },
    responses: { 200: json(Task, "The task"), 404: errors[404], ...denied },
  }),
  getTaskLogs: route("GET /v1/tasks/{id}/logs", {
    method: "get",
    path: "/v1/tasks/{id}/logs",
    operationId: "getTaskLogs",
    tags: ["tasks"],
    summary: "What each attempt of a task logged (its handler and the worker), bounded per attempt, secrets redacted",
    request: { params: IdParam },
    responses: {
      200: json(TaskLogs.TaskLogs, "Every attempt's lines, first attempt first"),
      404: errors[404],
      ...denied,
    },
  }),
  taskParams: downloadRoute("params"),
  taskResult: downloadRoute("result"),
  cancelTask: route("POST /v1/tasks/{id}/cancel", {
    method: "post",
    path: "/v1/tasks/{id}/cancel",
    operationId: "cancelTask",
    tags: ["tasks"],
    summary: "Cancel a queued or running task",
    request: { params: IdParam },
    responses: { 200: json(Task, "Cancelled"), 404: errors[404], 409: errors[409], ...denied },
  }),
};

/**
 * Tasks: submit (idempotent by key; its audit record is written with the task), list, read and cancel. An agent key
 * sees only its own agent's tasks.
 */
export function registerTaskRoutes(app: ApiApp, options: { ctx: Context; logger: Logger }) {
  const { ctx, logger } = options;
  app.openapi(routes.submitTask, async (c) => {
    const { task, replayed, audited, enqueued } = await Tasks.submit(ctx, c.req.valid("json"), {
      audit: auditEntry(c),
    });
    c.set("auditTarget", task.id);
    if (audited) c.set("audited", true);
    const keys = { taskId: task.id, agentId: task.agentId, action: task.action };
    if (!replayed) logger.info("task submitted", keys);
    if (!enqueued) logger.warn("task stored but not enqueued; the sweeper will re-send it", keys);
    if (replayed) c.header("Idempotent-Replayed", "true");
    c.header("Location", `/v1/tasks/${task.id}`);
    return c.json(task, 202);
  });
  app.openapi(routes.submitTasks, async (c) => {
    const { items, audited, notEnqueued } = await Tasks.submitMany(ctx, c.req.valid("json"), {
      audit: auditEntry(c),
    });
    if (audited) c.set("audited", true);
    const fresh = items.filter((item) => !item.replayed).map((item) => item.task.id);
    if (fresh.length > 0) logger.info("tasks submitted", { count: fresh.length, taskIds: fresh });
    if (notEnqueued.length > 0) {
      logger.warn("tasks stored but not enqueued; the sweeper will re-send them", { taskIds: notEnqueued });
    }
    return c.json({ items }, 202);
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
  /** The task, if the caller may see it: an agent key sees only its own agent's tasks (others are 404). */
  const visible = async (c: HonoContext<Env>, id: string) => {
    const record = await Tasks.find(ctx, id);
    const own = boundAgent(c.get("actor"));
    if (!record || (own !== undefined && record.agentId !== own)) throw new NotFoundError("task", id);
    return record;
  };
  app.openapi(routes.getTask, async (c) => {
    const record = await visible(c, c.req.valid("param").id);
    return c.json(await Payloads.shown(ctx, record, Tasks.toPublic(record)), 200);
  });
  app.openapi(routes.getTaskLogs, async (c) => {
    const record = await visible(c, c.req.valid("param").id);
    return c.json(await TaskLogs.of(ctx, record), 200);
  });
  for (const kind of ["params", "result"] as const) {
    app.openapi(kind === "params" ? routes.taskParams : routes.taskResult, async (c) => {
      const record = await visible(c, c.req.valid("param").id);
      const found = await Payloads.download(ctx, record, kind);
      if ("url" in found) return c.redirect(found.url, 302);
      c.header("Content-Type", found.contentType);
      c.header("ETag", `"${found.sha256}"`);
      return c.body(found.body as Uint8Array<ArrayBuffer>, 200);
    });
  }
  app.openapi(routes.cancelTask, async (c) => c.json(await Tasks.cancel(ctx, c.req.valid("param").id), 200));
}
