import type { Context } from "hono";
import type { Env } from "../middleware.js";
import type { ApiApp } from "../router.js";

/**
 * The dashboard, served by the API itself: same origin as the API (so the same keys and roles, no CORS), one
 * deployment. Its page at `/`, the interactive API docs (Swagger UI) at `/docs`, and their hashed, long-cached scripts
 * and stylesheets under `/assets/`. The dashboard
 * package (and with it the assets) is imported with the first request for it, never by a JSON request's cold start.
 * Each response carries its own strict Content-Security-Policy.
 */
export function registerDashboardRoutes(app: ApiApp) {
  const serve = async (c: Context<Env>, path: string) => {
    const { dashboardAssets, DASHBOARD_CSP } = await import("@nexus/dashboard");
    const asset = (await dashboardAssets()).get(path);
    if (!asset) return c.json({ error: { code: "not_found", message: `no dashboard file at ${path}` } }, 404);
    c.header("Content-Security-Policy", DASHBOARD_CSP);
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", asset.immutable ? "public, max-age=31536000, immutable" : "no-cache");
    c.header("Content-Type", asset.type);
    return c.body(asset.body, 200);
  };
  app.get("/", (c) => serve(c, "/"));
  app.get("/docs", (c) => serve(c, "/docs"));
  app.get("/assets/:file", (c) => serve(c, `/assets/${c.req.param("file")}`));
}
