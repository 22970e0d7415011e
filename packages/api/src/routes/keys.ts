import type { Context } from "@nexus/core";
import * as Keys from "@nexus/core/keys";
import * as z from "zod";
import { denied, errors, IdParam, json, PageOf, PageQuery, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const routes = {
  createKey: route("POST /v1/keys", {
    method: "post",
    path: "/v1/keys",
    operationId: "createKey",
    tags: ["keys"],
    summary: "Create an API key; the key itself is in this response only",
    request: { body: { ...json(Keys.CreateKeyInput, "The key"), required: true } },
    responses: {
      201: json(Keys.ApiKey.extend({ key: z.string().describe("The secret key: shown once") }), "Created"),
      ...errors,
    },
  }),
  listKeys: route("GET /v1/keys", {
    method: "get",
    path: "/v1/keys",
    operationId: "listKeys",
    tags: ["keys"],
    summary: "API keys, newest first (never their secrets)",
    request: { query: PageQuery },
    responses: { 200: json(PageOf(Keys.ApiKey, "ApiKeyPage"), "A page of keys"), 400: errors[400], ...denied },
  }),
  getKey: route("GET /v1/keys/{id}", {
    method: "get",
    path: "/v1/keys/{id}",
    operationId: "getKey",
    tags: ["keys"],
    summary: "An API key (never its secret)",
    request: { params: IdParam },
    responses: { 200: json(Keys.ApiKey, "The key"), 404: errors[404], ...denied },
  }),
  revokeKey: route("DELETE /v1/keys/{id}", {
    method: "delete",
    path: "/v1/keys/{id}",
    operationId: "revokeKey",
    tags: ["keys"],
    summary: "Revoke a key for good",
    request: { params: IdParam },
    responses: { 200: json(Keys.ApiKey, "Revoked"), 404: errors[404], 409: errors[409], ...denied },
  }),
};

/** API keys (admin only): create one (its secret is shown once), list and read them, revoke one. */
export function registerKeyRoutes(app: ApiApp, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.createKey, async (c) => {
    const { key, token } = await Keys.create(ctx, c.req.valid("json"), c.get("actor")?.keyId ?? "unknown");
    c.set("auditTarget", key.id);
    return c.json({ ...key, key: token }, 201);
  });
  app.openapi(routes.listKeys, async (c) => c.json(await Keys.list(ctx, c.req.valid("query")), 200));
  app.openapi(routes.getKey, async (c) => c.json(await Keys.get(ctx, c.req.valid("param").id), 200));
  app.openapi(routes.revokeKey, async (c) => {
    const actor = c.get("actor");
    if (!actor) throw new Keys.UnauthorizedError();
    return c.json(await Keys.revoke(ctx, c.req.valid("param").id, actor), 200);
  });
}
