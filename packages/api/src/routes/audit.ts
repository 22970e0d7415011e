import type { Context } from "@nexus/core";
import * as Audit from "@nexus/core/audit";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { denied, errors, json, PageOf, PageQuery, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

const ListAuditQuery = /* @__PURE__ */ pure(() =>
  PageQuery.extend({
    actor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, "must be a key id, e.g. key_01J...")
      .optional()
      .describe("Only the records of this key (its id, as in `keyId`)"),
    action: z
      .string()
      .regex(
        new RegExp(`^(${METHODS.join("|")}) /\\S{0,200}$`),
        'must be a method and a route pattern, e.g. "POST /v1/tasks" or "POST /v1/tasks/{id}/cancel"',
      )
      .optional()
      .describe('Only the records of this action: the method and route pattern, e.g. "POST /v1/tasks/{id}/cancel"'),
  }),
);

const routes = {
  listAudit: route("GET /v1/audit", {
    method: "get",
    path: "/v1/audit",
    operationId: "listAuditRecords",
    tags: ["audit"],
    summary: "The audit trail of mutating requests, newest first, optionally of one actor and/or action",
    description:
      "No index holds actor or action: with either filter, each request reads at most " +
      `${Audit.FILTER_READ_BUDGET} records (newest first) and answers with those that match, so a page may hold ` +
      "fewer records than `limit`, even none, and a `nextCursor` to follow; following it finds every match once.",
    request: { query: ListAuditQuery },
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
  app.openapi(routes.listAudit, async (c) => {
    const { actor, action, ...page } = c.req.valid("query");
    const space = action?.indexOf(" ") ?? -1;
    const by = {
      keyId: actor,
      method: action === undefined ? undefined : action.slice(0, space),
      route: action === undefined ? undefined : action.slice(space + 1),
    };
    return c.json(await Audit.list(ctx, page, by), 200);
  });
}
