import type { Context } from "@nexus/core";
import type * as Plans from "@nexus/core/plans";
import * as Schedules from "@nexus/core/schedules";
import * as z from "zod";
import { ErrorBody } from "../errors.js";
import { actorId, denied, errors, IdParam, json, PageOf, route, unplannable } from "../openapi.js";
import type { ApiApp } from "../router.js";

const unavailable = { 502: json(ErrorBody, "The scheduler (EventBridge Scheduler) could not be updated; retry") };

const routes = {
  createSchedule: route("POST /v1/schedules", {
    method: "post",
    path: "/v1/schedules",
    operationId: "createSchedule",
    tags: ["schedules"],
    summary: "Create a schedule: a task or plan run on a cron or rate expression (EventBridge Scheduler syntax)",
    request: { body: { ...json(Schedules.CreateScheduleInput, "The schedule"), required: true } },
    responses: {
      201: json(Schedules.Schedule, "Created, with its next run"),
      ...errors,
      ...unplannable,
      409: json(ErrorBody, "A schedule with this name exists"),
      ...unavailable,
    },
  }),
  previewSchedule: route("POST /v1/schedules/preview", {
    method: "post",
    path: "/v1/schedules/preview",
    operationId: "previewSchedule",
    tags: ["schedules"],
    summary: "Preview a cron or rate expression: the form it is stored in and its next runs (nothing is created)",
    request: { body: { ...json(Schedules.PreviewScheduleInput, "The expression and time zone"), required: true } },
    responses: {
      200: json(Schedules.SchedulePreview, "The expression as it would be stored, and its next runs"),
      400: errors[400],
      413: errors[413],
      ...denied,
    },
  }),
  listSchedules: route("GET /v1/schedules", {
    method: "get",
    path: "/v1/schedules",
    operationId: "listSchedules",
    tags: ["schedules"],
    summary: "Schedules by name, with their last and next runs",
    request: { query: Schedules.ListSchedulesQuery },
    responses: {
      200: json(PageOf(Schedules.Schedule, "SchedulePage"), "A page of schedules"),
      400: errors[400],
      ...denied,
    },
  }),
  getSchedule: route("GET /v1/schedules/{id}", {
    method: "get",
    path: "/v1/schedules/{id}",
    operationId: "getSchedule",
    tags: ["schedules"],
    summary: "A schedule with its last run (and its task's or plan's status), next run and latest runs",
    request: { params: IdParam },
    responses: { 200: json(Schedules.ScheduleDetail, "The schedule"), 404: errors[404], ...denied },
  }),
  updateSchedule: route("PATCH /v1/schedules/{id}", {
    method: "patch",
    path: "/v1/schedules/{id}",
    operationId: "updateSchedule",
    tags: ["schedules"],
    summary: "Change a schedule (name, cron or rate, time zone, target, enabled, overlap)",
    request: { params: IdParam, body: { ...json(Schedules.UpdateScheduleInput, "The changes"), required: true } },
    responses: {
      200: json(Schedules.Schedule, "Changed, with its next run"),
      ...errors,
      ...unplannable,
      409: json(ErrorBody, "The name is taken, or the schedule changed meanwhile"),
      ...unavailable,
    },
  }),
  deleteSchedule: route("DELETE /v1/schedules/{id}", {
    method: "delete",
    path: "/v1/schedules/{id}",
    operationId: "deleteSchedule",
    tags: ["schedules"],
    summary: "Delete a schedule; nothing fires for it afterwards. Its tasks and plans stay",
    request: { params: IdParam },
    responses: {
      200: json(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted"),
      404: errors[404],
      ...denied,
      ...unavailable,
    },
  }),
  runSchedule: route("POST /v1/schedules/{id}/run-now", {
    method: "post",
    path: "/v1/schedules/{id}/run-now",
    operationId: "runScheduleNow",
    tags: ["schedules"],
    summary: "Run a schedule now (its next run stays as it is; the overlap policy applies)",
    request: { params: IdParam },
    responses: { 200: json(Schedules.ScheduleRun, "The run: started, skipped or failed"), 404: errors[404], ...denied },
  }),
};

/** Schedules: create, read, list, change, delete and run now. */
export function registerScheduleRoutes(app: ApiApp, options: { ctx: Context; planner?: Plans.Planner | undefined }) {
  const { ctx } = options;
  const planner = options.planner ? { planner: options.planner } : {};
  app.openapi(routes.createSchedule, async (c) => {
    const schedule = await Schedules.create(ctx, c.req.valid("json"), { by: actorId(c.get("actor")), ...planner });
    c.set("auditTarget", schedule.id);
    c.header("Location", `/v1/schedules/${schedule.id}`);
    return c.json(schedule, 201);
  });
  app.openapi(routes.previewSchedule, async (c) => {
    const preview = Schedules.preview(ctx, c.req.valid("json"));
    c.set("audited", true); // a preview changes nothing: no audit record
    return c.json(preview, 200);
  });
  app.openapi(routes.listSchedules, async (c) => c.json(await Schedules.list(ctx, c.req.valid("query")), 200));
  app.openapi(routes.getSchedule, async (c) => c.json(await Schedules.get(ctx, c.req.valid("param").id), 200));
  app.openapi(routes.updateSchedule, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    return c.json(await Schedules.update(ctx, id, body, { by: actorId(c.get("actor")), ...planner }), 200);
  });
  app.openapi(routes.deleteSchedule, async (c) => {
    const { id } = c.req.valid("param");
    await Schedules.remove(ctx, id);
    return c.json({ id, deleted: true as const }, 200);
  });
  app.openapi(routes.runSchedule, async (c) => c.json(await Schedules.runNow(ctx, c.req.valid("param").id), 200));
}
