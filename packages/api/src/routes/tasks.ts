import type { Logger } from "@aws-lambda-powertools/logger";
import { type Context, Keys, ListTasksQuery, NotFoundError, SubmitTaskInput, Task, Tasks } from "@nexus/core";
import { auditEntry } from "../middleware.js";
import { boundAgent, denied, errors, IdParam, json, PageOf, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const routes = {
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
}
