import type { RouteConfig } from "@hono/zod-openapi";
import type { Context } from "@nexus/core";
import * as z from "zod";
import { type Described, json } from "../openapi.js";
import type { ApiApp } from "../router.js";

export const VERSION = "0.1.0";

const routes = {
  // Public: no key, no access rule (ACCESS lists it as "public").
  liveness: {
    method: "get",
    path: "/v1/health",
    operationId: "getHealth",
    tags: ["system"],
    summary: "Liveness; needs no key",
    responses: {
      200: json(z.object({ status: z.literal("ok"), version: z.string(), time: z.string() }), "Nexus is up"),
    },
  } satisfies RouteConfig & Described,
};

/**
 * The API about itself: liveness (no key needed) and its OpenAPI document, written by a library loaded with the first
 * request for it (few requests are).
 */
export function registerSystemRoutes(app: ApiApp, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.liveness, (c) =>
    c.json({ status: "ok" as const, version: VERSION, time: ctx.now().toISOString() }, 200),
  );
  app.get("/openapi.json", async (c) => {
    const { openApiDocument } = await import("../document.js");
    return c.json(openApiDocument(await app.allDefinitions(), VERSION));
  });
  // The interactive docs (`/docs`) are served with the dashboard's files (routes/dashboard.ts): nothing from a CDN.
}
