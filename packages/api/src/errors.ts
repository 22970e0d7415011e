import { type Logger, NexusError } from "@nexus/core";
import * as Keys from "@nexus/core/keys";
import * as Limits from "@nexus/core/limits";
import { pure } from "@nexus/core/pure";
import { isThrottlingError, isTransientError } from "@smithy/core/retry";
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as z from "zod";
import type { ValidationHook } from "./router.js";

export const ErrorBody = /* @__PURE__ */ pure(() =>
  z
    .object({
      error: z.object({
        code: z.string().meta({ example: "validation_error" }),
        message: z.string(),
        details: z.unknown().optional(),
        requestId: z.string().optional(),
      }),
    })
    .meta({ id: "Error" }),
);

const HTTP_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
};

/** Seconds a client is told to wait after a backing service throttled or could not be reached. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/**
 * A fault of a backing AWS service that a retry may clear, as the AWS SDK classifies it once its own retries are
 * spent: throttling (ProvisionedThroughputExceeded, ThrottlingException, a 429), a timeout, a refused or reset
 * connection, or a 5xx from the service.
 */
function isBackingServiceUnavailable(error: Error): boolean {
  const sdkError = error as Parameters<typeof isTransientError>[0];
  return isThrottlingError(sdkError) || isTransientError(sdkError);
}

export function errorResponse(c: Context, status: number, code: string, message: string, details?: unknown) {
  const requestId = c.get("requestId") as string | undefined;
  return c.json(
    { error: { code, message, ...(details === undefined ? {} : { details }), ...(requestId ? { requestId } : {}) } },
    status as ContentfulStatusCode,
  );
}

/** Turns zod issues into `{path, message}` pairs that name the field. */
function describeIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string; code: string }[],
  root?: string,
) {
  return issues.map((issue) => ({
    path: [...(root ? [root] : []), ...issue.path.map(String)].join(".") || "(body)",
    message: issue.message,
    code: issue.code,
  }));
}

/**
 * A route's input refused by its schema: 400 naming each field (`body.…`, `query.…`, `param.…`); a required body that
 * was not sent says so first.
 */
export const validationHook: ValidationHook = (result, c) => {
  if (result.success) return;
  const target = result.target === "json" ? "body" : result.target;
  const root = result.target === "json" ? undefined : target;
  const issues = describeIssues(result.error.issues, root);
  if (result.target === "json" && c.get("emptyBody")) {
    const missing = { path: "(body)", message: "a JSON body is required", code: "missing_body" };
    return errorResponse(c, 400, "validation_error", "request body is missing", [missing, ...issues]);
  }
  return errorResponse(c, 400, "validation_error", `request ${target} is not valid`, issues);
};

/** A path and method no route serves. */
export const notFound: NotFoundHandler = (c) =>
  errorResponse(c, 404, "not_found", `no route for ${c.req.method} ${c.req.path}`);

/**
 * The one place where errors become responses: known errors keep their status; a backing service that throttled or
 * could not be reached is a 503 to retry after Retry-After (a transient fault, not a bug); anything else is a logged 500.
 */
export function onError(logger: Logger): ErrorHandler {
  return (error, c) => {
    if (error instanceof Limits.RateLimitedError) c.header("Retry-After", String(error.retryAfterSeconds));
    if (error instanceof Keys.UnauthorizedError) c.header("WWW-Authenticate", 'Bearer realm="nexus"');
    if (error instanceof NexusError) {
      return errorResponse(c, error.status, error.code, error.message, normalizeDetails(error.details));
    }
    if (error instanceof HTTPException) {
      const status = error.status;
      if (status === 400 && /malformed json/i.test(error.message)) {
        return errorResponse(c, 400, "malformed_json", "request body is not valid JSON");
      }
      const message = status === 413 ? "request body is too large" : error.message || "bad request";
      return errorResponse(c, status, HTTP_CODES[status] ?? "bad_request", message);
    }
    if (isBackingServiceUnavailable(error)) {
      logger.warn("backing service unavailable", { error, path: c.req.path, method: c.req.method });
      c.header("Retry-After", String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      return errorResponse(
        c,
        503,
        "service_unavailable",
        "a backing service is busy or unreachable; retry after Retry-After seconds",
      );
    }
    logger.error("unhandled error", { error, path: c.req.path, method: c.req.method });
    return errorResponse(c, 500, "internal_error", "internal error; quote the request id when reporting it");
  };
}

function normalizeDetails(details: unknown) {
  if (Array.isArray(details) && details.every((d) => d && typeof d === "object" && "path" in d)) {
    return details.map((d) => {
      const { path, message, code, ...more } = d as { path: unknown; message: string; code?: string };
      // What else a detail says (e.g. the line of a backup file) is kept.
      const named = Array.isArray(path) ? path.map(String).join(".") || "(body)" : String(path);
      return { ...more, path: named, message, code };
    });
  }
  return details;
}
