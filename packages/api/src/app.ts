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
import { registerAgentRoutes } from "./routes/agents.js";
import { registerAuditRoutes } from "./routes/audit.js";
import { registerDashboardRoutes } from "./routes/dashboard.js";
import { registerEventRoutes } from "./routes/events.js";
import { registerFailureRoutes } from "./routes/failures.js";
import { registerHealthRoutes } from "./routes/health.js";
import { registerKeyRoutes } from "./routes/keys.js";
import { registerPlanRoutes } from "./routes/plans.js";
import { registerRemoteRoutes } from "./routes/remote.js";
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

/** The schedules' routes, in the order routes/schedules.ts registers them. */
const SCHEDULE_ROUTES: RouteName[] = [
  "POST /v1/schedules",
  "POST /v1/schedules/preview",
  "GET /v1/schedules",
  "GET /v1/schedules/{id}",
  "PATCH /v1/schedules/{id}",
  "DELETE /v1/schedules/{id}",
  "POST /v1/schedules/{id}/run-now",
];

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
  registerEventRoutes(app, options);
  registerAgentRoutes(app, options);
  registerTaskRoutes(app, options);
  registerPlanRoutes(app, options);
  // Routes few requests need: their code (cron evaluation among it) and schemas are loaded with the first request
  // for one of them (router.ts, `lazy`).
  app.lazy(SCHEDULE_ROUTES, async (app) =>
    (await import("./routes/schedules.js")).registerScheduleRoutes(app, options),
  );
  registerHealthRoutes(app, options);
  registerRemoteRoutes(app, options);
  registerFailureRoutes(app, options);
  registerKeyRoutes(app, options);
  registerAuditRoutes(app, options);
  app.lazy(["GET /v1/alarms"], async (app) => (await import("./routes/alarms.js")).registerAlarmRoutes(app, options));
  app.lazy(["GET /v1/backup/export", "POST /v1/backup/import"], async (app) =>
    (await import("./routes/backup.js")).registerBackupRoutes(app, options),
  );
  registerDashboardRoutes(app);
  return app;
}

export type App = ReturnType<typeof createApp>;
