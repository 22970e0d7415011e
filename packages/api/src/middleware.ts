import type { Logger } from "@aws-lambda-powertools/logger";
import { Audit, jsonDepth, Keys, Limits, type Context as NexusContext } from "@nexus/core";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { allowed, type RouteKey } from "./access.js";
import { errorResponse } from "./errors.js";

export const MAX_BODY_BYTES = 256 * 1024;

export type Env = {
  Variables: {
    requestId: string;
    actor?: Keys.Actor;
    /** The matched route's pattern, for the audit trail. */
    route?: string;
    /** The object a mutating request acted on, for the audit trail. */
    auditTarget?: string;
    /** Set when the handler wrote the request's audit record itself (batched with its change). */
    audited?: boolean;
  };
};

const tooLarge = (c: Context) =>
  errorResponse(c, 413, "payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);

/** Reads and discards what is left of a refused body (up to a cap), so the client can read the 413. */
async function drain(body: ReadableStream<Uint8Array> | null, cap = 16 * 1024 * 1024) {
  if (!body) return;
  const reader = body.getReader();
  let read = 0;
  try {
    while (read < cap) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
  } catch {
    // the client went away: nothing left to drain
  } finally {
    reader.releaseLock();
  }
}

/**
 * 413 for bodies over {@link MAX_BODY_BYTES}: declared sizes are refused before reading, streamed ones as soon
 * as they pass the limit.
 */
export const limitBody: MiddlewareHandler = async (c, next) => {
  const declared = Number(c.req.header("content-length") ?? Number.NaN);
  if (declared > MAX_BODY_BYTES) {
    await drain(c.req.raw.body);
    c.header("Connection", "close");
    return tooLarge(c);
  }
  return bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge })(c, next);
};

/** Deepest nesting of a request body; deeper bodies are refused before any (recursive) validation sees them. */
export const MAX_BODY_DEPTH = 40;

/**
 * Bodies of writes must be JSON (anything else is a 415, not a confusing validation error), and not nested
 * absurdly deep (400). The parsed body is cached by Hono for the route's validator.
 */
export const jsonOnly: MiddlewareHandler = async (c, next) => {
  if (["POST", "PUT", "PATCH"].includes(c.req.method)) {
    const type = c.req.header("content-type") ?? "";
    const hasBody = c.req.header("content-length") !== "0" && (c.req.raw.body !== null || type !== "");
    if (hasBody && !/^application\/([\w.-]+\+)?json\s*(;|$)/i.test(type)) {
      return errorResponse(c, 415, "unsupported_media_type", "send the body as application/json");
    }
    if (hasBody) {
      const body: unknown = await c.req.json().catch(() => undefined); // malformed: the validator says so
      if (jsonDepth(body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
        return errorResponse(c, 400, "validation_error", `request body nests deeper than ${MAX_BODY_DEPTH} levels`);
      }
    }
  }
  await next();
};

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;

/** Every /v1 request but health needs a key; then the key's rate limit applies. */
export function authenticate(ctx: NexusContext): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (c.req.path === "/v1/health") return next();
    const token = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    const bootstrap = ctx.settings.adminKeySecret ? await ctx.secrets.get(ctx.settings.adminKeySecret) : undefined;
    const actor = await Keys.authenticate(ctx, token, bootstrap);
    c.set("actor", actor);
    await Limits.rateLimit(ctx, actor.keyId, actor.rateLimitPerMinute ?? ctx.settings.rateLimitPerMinute);
    await next();
  };
}

/** The route's access rule: 403 for a role it does not allow. Also names the route for the audit trail. */
export function guard(route: RouteKey): MiddlewareHandler<Env> {
  return async (c, next) => {
    c.set("route", route.split(" ")[1]);
    const target = c.req.param("id");
    if (target) c.set("auditTarget", target.slice(0, 128));
    const actor = c.get("actor");
    if (!actor || !allowed(route, actor.role)) throw new Keys.ForbiddenError();
    await next();
  };
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Who made this request and what it was, for its audit record. */
export function auditEntry(c: Context<Env>) {
  const actor = c.get("actor");
  return {
    keyId: actor?.keyId ?? null,
    role: actor?.role ?? null,
    method: c.req.method,
    route: c.get("route") ?? "(unmatched)",
    path: c.req.path.slice(0, 512),
    requestId: c.get("requestId"),
    sourceIp: c.req.header("x-forwarded-for")?.split(",")[0]?.trim().slice(0, 64) ?? null,
  };
}

/** Records every mutating request (who, what, when, outcome) once its response is known. */
export function audit(ctx: NexusContext, logger: Logger): MiddlewareHandler<Env> {
  return async (c, next) => {
    await next();
    if (!MUTATING.has(c.req.method) || c.get("audited")) return;
    const status = c.res.status;
    try {
      await Audit.record(ctx, {
        ...auditEntry(c),
        targetId: c.get("auditTarget") ?? null,
        status,
        outcome: Audit.outcomeOf(status),
      });
    } catch (error) {
      logger.error("audit record could not be written", { error, requestId: c.get("requestId") });
    }
  };
}
