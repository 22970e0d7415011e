import { Audit, type Context } from "@nexus/core";
import { denied, errors, json, PageOf, PageQuery, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const routes = {
  listAudit: route("GET /v1/audit", {
    method: "get",
    path: "/v1/audit",
    operationId: "listAuditRecords",
    tags: ["audit"],
    summary: "The audit trail of mutating requests, newest first",
    request: { query: PageQuery },
    responses: {
      200: json(PageOf(Audit.AuditRecord, "AuditPage"), "A page of records"),
      400: errors[400],
      ...denied,
    },
  }),
};

/** The audit trail (admin only), newest first: every mutating request, and those refused with 401 or 429 as counts. */
export function registerAuditRoutes(app: ApiApp, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.listAudit, async (c) => c.json(await Audit.list(ctx, c.req.valid("query")), 200));
}
