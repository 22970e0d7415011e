import type { RouteConfig } from "@hono/zod-openapi";
import { PageLimit } from "@nexus/core";
import type * as Keys from "@nexus/core/keys";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import type { RouteKey } from "./access.js";
import { ErrorBody } from "./errors.js";
import { guard, numbersInRange } from "./middleware.js";

/** Building blocks of route definitions: bodies, error responses, params, and the access-guarded route. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
export const errors = {
  400: json(ErrorBody, "Bad input; the error names the field"),
  401: json(ErrorBody, "No valid API key"),
  403: json(ErrorBody, "The key's role does not allow this"),
  404: json(ErrorBody, "Not found"),
  409: json(ErrorBody, "Conflict with the current state"),
  413: json(ErrorBody, "Body too large"),
  429: json(ErrorBody, "Rate limit or daily cap reached; see Retry-After"),
};
/** Where a goal is planned (a plan, a schedule's plan target): the planner may find no way to reach it. */
export const unplannable = {
  422: json(ErrorBody, "The goal cannot be planned with the agents registered now (the reason is given)"),
};
export const denied = { 401: errors[401], 403: errors[403], 429: errors[429] };
export const PageOf = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta({ id: name });
export const IdParam = /* @__PURE__ */ pure(() =>
  z.object({
    id: z
      .string()
      .min(1)
      .max(64)
      .meta({ param: { name: "id", in: "path" } }),
  }),
);
export const StepParam = /* @__PURE__ */ pure(() =>
  IdParam.extend({
    stepId: z
      .string()
      .min(1)
      .max(40)
      .meta({ param: { name: "stepId", in: "path" } }),
  }),
);
export const PageQuery = /* @__PURE__ */ pure(() =>
  z.strictObject({ limit: PageLimit, cursor: z.string().max(2048).optional() }),
);
const security = [{ bearer: [] }];

/**
 * What every operation declares for its clients: a stable camelCase `operationId` (verbNoun, e.g. `listTasks`: the
 * name generated SDKs give its method), a one-line summary and its tag. The statuses the middleware answers with (400,
 * 401, 403, 404, 413, 415, 429, 500) and the response headers are added to the document for every route (document.ts).
 */
export type Described = { operationId: string; summary: string; tags: string[] };

/** A route definition whose access rule comes from the ACCESS table; a body it takes has its numbers checked. */
export function route<const R extends RouteConfig & Described>(key: RouteKey, definition: R) {
  const middleware = definition.request?.body ? [guard(key), numbersInRange] : [guard(key)];
  return { ...definition, security, middleware };
}

/** The agent a key with role `agent` is bound to; undefined for other roles. */
export const boundAgent = (actor: Keys.Actor | undefined) =>
  actor?.role === "agent" ? (actor.agentId ?? "") : undefined;

/** The id of the key making a request, as recorded on what it creates or decides. */
export const actorId = (actor: Keys.Actor | undefined) => actor?.keyId ?? "unknown";
