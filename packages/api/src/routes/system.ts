import { swaggerUI } from "@hono/swagger-ui";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "@nexus/core";
import type { Env } from "../middleware.js";
import { json } from "../openapi.js";

export const VERSION = "0.1.0";

const routes = {
  // Public: no key, no access rule (ACCESS lists it as "public").
  liveness: createRoute({
    method: "get",
    path: "/v1/health",
    tags: ["system"],
    summary: "Liveness; needs no key",
    responses: {
      200: json(z.object({ status: z.literal("ok"), version: z.string(), time: z.string() }), "Nexus is up"),
    },
  }),
};

/** The API about itself: liveness (no key needed), its OpenAPI document and the Swagger UI that reads it. */
export function registerSystemRoutes(app: OpenAPIHono<Env>, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.liveness, (c) =>
    c.json({ status: "ok" as const, version: VERSION, time: ctx.now().toISOString() }, 200),
  );
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
}
