import { type Context, type Logger, Task, withLogContext } from "@nexus/core";
import * as Keys from "@nexus/core/keys";
import * as Remote from "@nexus/core/remote";
import { ErrorBody } from "../errors.js";
import { boundAgent, denied, errors, IdParam, json, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const lost = json(
  ErrorBody,
  "lease_lost: the lease expired, a newer claim holds the task, or it ended; nothing changed",
);
const tags = ["remote agents"];

const routes = {
  claim: route("POST /v1/agents/{id}/tasks/claim", {
    method: "post",
    path: "/v1/agents/{id}/tasks/claim",
    operationId: "claimTasks",
    tags,
    summary: "Claim queued tasks of a custom agent (long poll), each under a lease",
    request: {
      params: IdParam,
      body: { ...json(Remote.ClaimInput, "How many, how long to wait, how long to hold"), required: false },
    },
    responses: {
      200: json(Remote.ClaimResult, "The claimed tasks (empty when none came in time, or the agent is inactive)"),
      400: errors[400],
      404: errors[404],
      409: json(ErrorBody, "A built-in agent: its tasks run in its own function"),
      ...denied,
    },
  }),
  complete: route("POST /v1/tasks/{id}/complete", {
    method: "post",
    path: "/v1/tasks/{id}/complete",
    operationId: "completeTask",
    tags,
    summary: "Report a claimed task's result: it succeeds",
    request: {
      params: IdParam,
      body: { ...json(Remote.CompleteInput, "The lease token and the result"), required: true },
    },
    responses: {
      200: json(Task, "Succeeded"),
      400: errors[400],
      404: errors[404],
      409: lost,
      413: errors[413],
      422: json(ErrorBody, "The result does not fit a task (too deep); the task failed with that error"),
      ...denied,
    },
  }),
  fail: route("POST /v1/tasks/{id}/fail", {
    method: "post",
    path: "/v1/tasks/{id}/fail",
    operationId: "failTask",
    tags,
    summary: "Report a claimed task's failed attempt: retried with backoff, or failed and dead-lettered",
    request: { params: IdParam, body: { ...json(Remote.FailInput, "The lease token and the error"), required: true } },
    responses: {
      200: json(Task, "Queued again for a retry, or failed"),
      400: errors[400],
      404: errors[404],
      409: lost,
      ...denied,
    },
  }),
  extend: route("POST /v1/tasks/{id}/extend", {
    method: "post",
    path: "/v1/tasks/{id}/extend",
    operationId: "extendTaskLease",
    tags,
    summary: "Renew the lease on a claimed task",
    request: {
      params: IdParam,
      body: { ...json(Remote.ExtendInput, "The lease token and the new length"), required: true },
    },
    responses: {
      200: json(Remote.Lease, "The renewed lease"),
      400: errors[400],
      404: errors[404],
      409: lost,
      ...denied,
    },
  }),
};

/**
 * Remote agents: claim a custom agent's tasks, then complete, fail or extend each with its lease token. An
 * agent key works only for its own agent (claiming for another is a 403, another agent's task a 404).
 */
export function registerRemoteRoutes(app: ApiApp, options: { ctx: Context; logger: Logger }) {
  const remote = { ctx: options.ctx, logger: options.logger };
  app.openapi(routes.claim, async (c) => {
    const { id } = c.req.valid("param");
    const own = boundAgent(c.get("actor"));
    if (own !== undefined && own !== id)
      throw new Keys.ForbiddenError("an agent key may claim only its own agent's tasks");
    const tasks = await Remote.claim(remote, id, c.req.valid("json") ?? {}, c.req.raw.signal);
    // An empty claim changes nothing: it is not recorded, or an idle worker would fill the audit trail.
    if (tasks.length === 0) c.set("audited", true);
    return c.json({ tasks }, 200);
  });
  // What is logged while a remote worker reports on a task carries the task's id, as on the Lambda worker's path.
  app.openapi(routes.complete, async (c) => {
    const own = boundAgent(c.get("actor"));
    const { id } = c.req.valid("param");
    return c.json(
      await withLogContext({ taskId: id }, () => Remote.complete(remote, id, c.req.valid("json"), own)),
      200,
    );
  });
  app.openapi(routes.fail, async (c) => {
    const own = boundAgent(c.get("actor"));
    const { id } = c.req.valid("param");
    return c.json(await withLogContext({ taskId: id }, () => Remote.fail(remote, id, c.req.valid("json"), own)), 200);
  });
  app.openapi(routes.extend, async (c) => {
    const own = boundAgent(c.get("actor"));
    const { id } = c.req.valid("param");
    return c.json(await withLogContext({ taskId: id }, () => Remote.extend(remote, id, c.req.valid("json"), own)), 200);
  });
}
