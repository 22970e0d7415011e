import { OpenAPIRegistry, OpenApiGeneratorV31 } from "@asteasolutions/zod-to-openapi";
import type { RouteConfig } from "@hono/zod-openapi";

/**
 * The API's OpenAPI 3.1 document, written from the routes as declared (router.ts) by the generator @hono/zod-openapi
 * uses, as its `doc31` would. Imported with the first request for it; the generator takes no zod import of its own,
 * so zod's full namespace (every locale) stays out of the bundle.
 */
export function openApiDocument(routes: readonly RouteConfig[], version: string) {
  const registry = new OpenAPIRegistry();
  for (const route of routes) registry.registerPath(route);
  registry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key: Authorization: Bearer nxk_…",
  });
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: { title: "Nexus API", version, description: "Serverless agent orchestrator" },
  });
}
