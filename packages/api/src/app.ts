import type { AgentSpec, Logger, Context as NexusContext } from "@nexus/core";
import type * as Plans from "@nexus/core/plans";
import { requestId } from "hono/request-id";
import { corsFor } from "./cors.js";
import { notFound, onError, validationHook } from "./errors.js";
import {
  audit,
  authenticate,
  builtinsReady,
  closeUnread,
  jsonOnly,
  limitBody,
  observe,
  rateLimitHeaders,
  securityHeaders,
} from "./middleware.js";
import { ApiApp, type RouteName } from "./router.js";
import { registerDashboardRoutes } from "./routes/dashboard.js";
import { registerSystemRoutes } from "./routes/system.js";
import { registerTaskRoutes } from "./routes/tasks.js";

export { ACCESS, type RouteKey } from "./access.js";
export { CORS } from "./cors.js";
export { API_CSP, HSTS, MAX_BODY_BYTES, MAX_RESULT_BODY_BYTES, RATE_LIMIT_POLICY } from "./middleware.js";
export { VERSION } from "./routes/system.js";

export interface AppOptions {
  ctx: NexusContext;
  logger: Logger;
  /** Built-in agents to register (idempotently) before the first request is served, or what loads them. */
  builtinSpecs: AgentSpec[] | (() => Promise<AgentSpec[]>);
  /** Writes plans for goals (`POST /v1/plans {goal}`); without one, plans need their steps. */
  planner?: Plans.Planner;
  /** Strict-Transport-Security on every response: where the API is reached over HTTPS only (API Gateway). */
  hsts?: boolean;
}

/**
 * The routes of each module registered on first use (router.ts, `lazy`), in the order the module registers them: every
 * route but the tasks', the liveness probe's and the dashboard's. A request for one of them loads its
 * module's chunk (its code, and its schemas built); a cold start serving tasks loads none of them.
 */
const LAZY = {
  events: ["GET /v1/me", "GET /v1/events", "GET /v1/events/stream"],
  agents: [
    "POST /v1/agents",
    "GET /v1/agents",
    "GET /v1/agents/{id}",
    "POST /v1/agents/{id}/deactivate",
    "POST /v1/agents/{id}/reactivate",
    "DELETE /v1/agents/{id}",
  ],
  plans: [
    "POST /v1/plans",
    "GET /v1/plans",
    "GET /v1/plans/{id}",
    "POST /v1/plans/{id}/cancel",
    "POST /v1/plans/{id}/retry",
    "POST /v1/plans/{id}/steps/{stepId}/approve",
    "POST /v1/plans/{id}/steps/{stepId}/reject",
  ],
  schedules: [
    "POST /v1/schedules",
    "POST /v1/schedules/preview",
    "GET /v1/schedules",
    "GET /v1/schedules/{id}",
    "PATCH /v1/schedules/{id}",
    "DELETE /v1/schedules/{id}",
    "POST /v1/schedules/{id}/run-now",
  ],
  health: ["POST /v1/agents/{id}/heartbeat"],
  remote: [
    "POST /v1/agents/{id}/tasks/claim",
    "POST /v1/tasks/{id}/complete",
    "POST /v1/tasks/{id}/fail",
    "POST /v1/tasks/{id}/extend",
  ],
  failures: [
    "GET /v1/failures",
    "GET /v1/failures/{id}",
    "POST /v1/failures/{id}/redrive",
    "POST /v1/failures/redrive",
  ],
  keys: ["POST /v1/keys", "GET /v1/keys", "GET /v1/keys/{id}", "DELETE /v1/keys/{id}"],
  audit: ["GET /v1/audit"],
  alarms: ["GET /v1/alarms"],
  backup: ["GET /v1/backup/export", "POST /v1/backup/import"],
} as const satisfies Record<string, readonly RouteName[]>;

/** The request id API Gateway gave the request (hono/aws-lambda passes its event as the environment). */
const gatewayRequestId = (env: unknown) =>
  (env as { event?: { requestContext?: { requestId?: unknown } } } | undefined)?.event?.requestContext?.requestId as
    | string
    | undefined;

/** The API: its middleware, in order, then one router per resource (routes/). */
export function createApp(options: AppOptions) {
  const { ctx, logger } = options;
  const app = new ApiApp(validationHook);

  // API Gateway's request id where there is one, so a request's log records and its access log line share it.
  app.use(
    "*",
    requestId({ headerName: "X-Request-Id", generator: (c) => gatewayRequestId(c.env) ?? crypto.randomUUID() }),
  );
  app.use("*", observe);
  app.use("*", securityHeaders({ hsts: options.hsts ?? false }));
  // A preflight is answered before any key is asked for (a browser sends none with it).
  const cors = corsFor(ctx.settings.corsOrigins);
  if (cors) app.use("*", cors);
  app.use("/v1/*", closeUnread);
  app.use("/v1/*", audit(ctx, logger));
  app.use("/v1/*", rateLimitHeaders);
  // Who is asking comes first: nothing of a body is read for a caller without a valid key.
  app.use("/v1/*", authenticate(ctx));
  app.use("/v1/*", limitBody);
  app.use("/v1/*", jsonOnly);
  app.use("/v1/*", builtinsReady(options));
  app.onError(onError(logger));
  app.notFound(notFound);

  registerSystemRoutes(app, options);
  // Routes few cold starts need: their code and schemas are loaded with the first request for one of them (LAZY).
  app.lazy(LAZY.events, async (app) => (await import("./routes/events.js")).registerEventRoutes(app, options));
  app.lazy(LAZY.agents, async (app) => (await import("./routes/agents.js")).registerAgentRoutes(app, options));
  registerTaskRoutes(app, options);
  app.lazy(LAZY.plans, async (app) => (await import("./routes/plans.js")).registerPlanRoutes(app, options));
  app.lazy(LAZY.schedules, async (app) => (await import("./routes/schedules.js")).registerScheduleRoutes(app, options));
  app.lazy(LAZY.health, async (app) => (await import("./routes/health.js")).registerHealthRoutes(app, options));
  app.lazy(LAZY.remote, async (app) => (await import("./routes/remote.js")).registerRemoteRoutes(app, options));
  app.lazy(LAZY.failures, async (app) => (await import("./routes/failures.js")).registerFailureRoutes(app, options));
  app.lazy(LAZY.keys, async (app) => (await import("./routes/keys.js")).registerKeyRoutes(app, options));
  app.lazy(LAZY.audit, async (app) => (await import("./routes/audit.js")).registerAuditRoutes(app, options));
  app.lazy(LAZY.alarms, async (app) => (await import("./routes/alarms.js")).registerAlarmRoutes(app, options));
  app.lazy(LAZY.backup, async (app) => (await import("./routes/backup.js")).registerBackupRoutes(app, options));
  registerDashboardRoutes(app);
  return app;
}

export type App = ReturnType<typeof createApp>;
