import {
  jsonDepth,
  type Logger,
  metrics,
  type Context as NexusContext,
  statusClass,
  withLogContext,
} from "@nexus/core";
import * as Audit from "@nexus/core/audit";
import * as Keys from "@nexus/core/keys";
import * as Limits from "@nexus/core/limits";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { allowed, type RouteKey } from "./access.js";
import { type BuiltinOptions, builtinRegistration } from "./builtins.js";
import { errorResponse } from "./errors.js";

export const MAX_BODY_BYTES = 256 * 1024;
/**
 * A remote worker's `POST /v1/tasks/{id}/complete` may carry a larger result (kept in object storage over 32 KB):
 * up to 5 MB, under Lambda's 6 MB limit on a synchronous invocation's request.
 */
export const MAX_RESULT_BODY_BYTES = 5 * 1024 * 1024;
const COMPLETE_PATH = /^\/v1\/tasks\/[^/]+\/complete$/;
/** An import's lines may carry payload objects (up to 3 MB each, base64): up to 5 MB as well. */
const IMPORT_PATH = "/v1/backup/import";
const maxBodyBytes = (c: Context) =>
  c.req.method === "POST" && (COMPLETE_PATH.test(c.req.path) || c.req.path === IMPORT_PATH)
    ? MAX_RESULT_BODY_BYTES
    : MAX_BODY_BYTES;

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
    /** Set when a write came without a body (it is validated as `{}`). */
    emptyBody?: boolean;
    /** Set once the whole body has been read. */
    bodyRead?: boolean;
    /** The body of a write, parsed (undefined when absent or malformed). */
    body?: unknown;
    /** The caller's key's rate-limit quota after this request (set once the key is known). */
    rateQuota?: Limits.RateQuota;
  };
};

/**
 * Every request: whatever is logged while it is served carries its request id (log.ts), and its response is counted
 * by status class and timed (`ApiRequests{StatusClass}`, `ApiLatency`), errors included (they are responses by then).
 */
export const observe: MiddlewareHandler<Env> = async (c, next) => {
  const started = performance.now();
  await withLogContext({ requestId: c.get("requestId") }, next);
  metrics().count("ApiRequests", 1, { StatusClass: statusClass(c.res.status) });
  metrics().duration("ApiLatency", performance.now() - started);
};

/** What a response that is not a page may load or be framed by: nothing. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";
/** One year; not `includeSubDomains`, since the API's host may be one name among others of its owner's domain. */
export const HSTS = "max-age=31536000";

/**
 * Every response: never cached and never framed, its type never sniffed, no referrer sent from it; JSON (anything but
 * a page) with a Content-Security-Policy that allows nothing. A route may set its own Cache-Control and CSP (a page
 * that loads its own scripts and styles does); a page that sets no CSP still may not be framed. `hsts` adds
 * Strict-Transport-Security, for where the API is reached over HTTPS only (API Gateway), never over plain HTTP.
 */
export function securityHeaders(options: { hsts?: boolean } = {}): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    const page = /^text\/html/i.test(headers.get("Content-Type") ?? "");
    setOnResponse(c, {
      ...(headers.has("Cache-Control") ? {} : { "Cache-Control": "no-store" }),
      "X-Content-Type-Options": "nosniff",
      "X-Frame-Options": "DENY",
      "Referrer-Policy": "no-referrer",
      ...(headers.has("Content-Security-Policy")
        ? {}
        : { "Content-Security-Policy": page ? "frame-ancestors 'none'" : API_CSP }),
      ...(options.hsts ? { "Strict-Transport-Security": HSTS } : {}),
    });
  };
}

/**
 * Sets headers on the response the handler made: in place, where `c.header` would copy the whole response for each
 * header (it cannot tell whether the response's headers may change; the local server then also writes the copy's body
 * as a stream). Through `c.header` when they may not (a response whose headers are immutable).
 */
export function setOnResponse(c: Pick<Context, "res" | "header">, headers: Record<string, string>) {
  const entries = Object.entries(headers);
  try {
    for (const [name, value] of entries) c.res.headers.set(name, value);
  } catch {
    for (const [name, value] of entries) c.header(name, value);
  }
}

/** The name of the per-key quota in the `RateLimit` and `RateLimit-Policy` headers. */
export const RATE_LIMIT_POLICY = "per-key";

/**
 * The key's quota on every response to an authenticated request, as draft-ietf-httpapi-ratelimit-headers-10 writes it
 * (structured fields): `RateLimit-Policy: "per-key";q=600;w=60` and `RateLimit: "per-key";r=599;t=42` (remaining
 * requests, seconds until the window resets). Written after the response is made, errors (a 429 too) included.
 */
export const rateLimitHeaders: MiddlewareHandler<Env> = async (c, next) => {
  await next();
  const quota = c.get("rateQuota");
  if (!quota) return;
  setOnResponse(c, {
    "RateLimit-Policy": `"${RATE_LIMIT_POLICY}";q=${quota.limit};w=${quota.windowSeconds}`,
    RateLimit: `"${RATE_LIMIT_POLICY}";r=${quota.remaining};t=${quota.resetSeconds}`,
  });
};

/** Waits for the built-in agents' registration (once per process; a failure is retried by the next request). */
export function builtinsReady(options: BuiltinOptions): MiddlewareHandler {
  const ready = builtinRegistration(options);
  return async (_c, next) => {
    await ready();
    await next();
  };
}

const tooLarge = (c: Context) =>
  errorResponse(c, 413, "payload_too_large", `request body exceeds ${maxBodyBytes(c)} bytes`);

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
 * 413 for bodies over {@link MAX_BODY_BYTES} ({@link MAX_RESULT_BODY_BYTES} for a remote worker's result): declared
 * sizes are refused before reading, streamed ones as soon as they pass the limit.
 */
export const limitBody: MiddlewareHandler = async (c, next) => {
  const maxSize = maxBodyBytes(c);
  const declared = Number(c.req.header("content-length") ?? Number.NaN);
  if (declared > maxSize) {
    await drain(c.req.raw.body);
    c.header("Connection", "close");
    return tooLarge(c);
  }
  // A body of declared size within the limit is all the limit needs to know, as hono's bodyLimit would decide too;
  // and a GET has no body. Left to bodyLimit, either would have the local server build a full Request to ask.
  const declaredWithin = Number.isFinite(declared) && !c.req.header("transfer-encoding");
  if (declaredWithin || c.req.method === "GET" || c.req.method === "HEAD") return next();
  return bodyLimit({ maxSize, onError: tooLarge })(c, next);
};

/** Deepest nesting of a request body; deeper bodies are refused before any (recursive) validation sees them. */
export const MAX_BODY_DEPTH = 40;

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

/**
 * The paths of the numbers JSON.parse could not hold (`1e400` parses to Infinity and would be stored as
 * null), e.g. `params.n`; at most `max`. Iterative: the body's depth is checked first.
 */
function outOfRangeNumbers(body: unknown, max = 10): string[] {
  const found: string[] = [];
  const stack: Array<[unknown, string[]]> = [[body, []]];
  while (stack.length > 0 && found.length < max) {
    const [value, path] = stack.pop() as [unknown, string[]];
    if (typeof value === "number" && !Number.isFinite(value)) found.push(path.join(".") || "(body)");
    if (value === null || typeof value !== "object") continue;
    for (const [name, child] of Object.entries(value).reverse()) stack.push([child, [...path, name]]);
  }
  return found;
}

/**
 * Bodies of writes: an empty one (no body, or `Content-Length: 0`, whatever its type) stands for `{}`, which the
 * route's schema accepts or refuses as a missing body; any other must be JSON (else 415) and not nested
 * absurdly deep (400). The parsed body is kept (`body`) for {@link numbersInRange}.
 */
export const jsonOnly: MiddlewareHandler<Env> = async (c, next) => {
  if (!["POST", "PUT", "PATCH"].includes(c.req.method)) return next();
  const text = await c.req.text();
  c.set("bodyRead", true);
  if (text === "") {
    // Whatever type it declared, the request goes on as the JSON body {} for the route's validator.
    const headers = new Headers(c.req.raw.headers);
    headers.delete("content-length");
    headers.delete("transfer-encoding");
    headers.set("content-type", "application/json");
    c.req.raw = new Request(c.req.url, { method: c.req.method, headers, body: "{}", signal: c.req.raw.signal });
    c.req.bodyCache = {};
    c.set("emptyBody", true);
    return next();
  }
  if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) {
    return errorResponse(c, 415, "unsupported_media_type", "send the body as application/json");
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return next(); // malformed: the route's validator says so
  }
  if (jsonDepth(body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
    return errorResponse(c, 400, "validation_error", `request body nests deeper than ${MAX_BODY_DEPTH} levels`);
  }
  c.set("body", body);
  await next();
};

/**
 * Part of the validation of a route that takes a body: numbers JSON.parse turned into ±Infinity are refused
 * (400 naming each field), never stored as null. Routes without a body ignore what was sent.
 */
export const numbersInRange: MiddlewareHandler<Env> = async (c, next) => {
  const outOfRange = outOfRangeNumbers(c.get("body"));
  if (outOfRange.length > 0) {
    return errorResponse(
      c,
      400,
      "validation_error",
      "request body has numbers out of range",
      outOfRange.map((path) => ({ path, message: "number is too large to represent", code: "not_finite" })),
    );
  }
  await next();
};

/**
 * A request refused before its body was read (401, 429, a body over the limit) is answered with
 * `Connection: close`, so the server never reads what it refused: the client gets the answer, and the
 * connection ends with it.
 */
export const closeUnread: MiddlewareHandler<Env> = async (c, next) => {
  const declared = c.req.header("content-length");
  const hasBody = (declared !== undefined && declared !== "0") || c.req.header("transfer-encoding") !== undefined;
  await next();
  if (hasBody && c.res.status >= 400 && !c.get("bodyRead")) c.header("Connection", "close");
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
    try {
      c.set(
        "rateQuota",
        await Limits.rateLimit(ctx, actor.keyId, actor.rateLimitPerMinute ?? ctx.settings.rateLimitPerMinute),
      );
    } catch (error) {
      if (error instanceof Limits.RateLimitedError && error.quota) c.set("rateQuota", error.quota);
      throw error;
    }
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
    sourceIp: sourceIpOf(c),
  };
}

/** What the platform hands the app with each request: the Lambda adapter's event, or Node's socket. */
interface PlatformBindings {
  event?: { requestContext?: PlatformContext };
  requestContext?: PlatformContext;
  incoming?: { socket?: { remoteAddress?: unknown } };
}
type PlatformContext = { http?: { sourceIp?: unknown }; identity?: { sourceIp?: unknown } };

/**
 * The client's address as the platform saw it: API Gateway's `requestContext` in Lambda, the socket's peer
 * locally. Never a header such as X-Forwarded-For, which the caller writes; null when there is none (in-process).
 */
function sourceIpOf(c: Context): string | null {
  const env = c.env as PlatformBindings | undefined;
  const context = env?.event?.requestContext ?? env?.requestContext;
  const address = context?.http?.sourceIp ?? context?.identity?.sourceIp ?? env?.incoming?.socket?.remoteAddress;
  return typeof address === "string" ? address.slice(0, 64) : null;
}

/**
 * Records every mutating request (who, what, when, outcome) once its response is known; those refused without
 * a usable key or over a rate limit (401, 429), which anyone can send in any number, only as counts.
 */
export function audit(ctx: NexusContext, logger: Logger): MiddlewareHandler<Env> {
  return async (c, next) => {
    await next();
    if (!MUTATING.has(c.req.method) || c.get("audited")) return;
    const status = c.res.status;
    const entry = {
      ...auditEntry(c),
      targetId: c.get("auditTarget") ?? null,
      status,
      outcome: Audit.outcomeOf(status),
    };
    try {
      await (Audit.COUNTED_STATUSES.has(status) ? Audit.recordRefused(ctx, entry) : Audit.record(ctx, entry));
    } catch (error) {
      logger.error("audit record could not be written", { error, requestId: c.get("requestId") });
    }
  };
}
