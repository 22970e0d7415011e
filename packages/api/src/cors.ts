import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

/**
 * Cross-origin requests from browser pages (CORS): off unless origins are allowed (`NEXUS_CORS_ORIGINS`), and then
 * only those exact origins, without credentials (a page sends its key in Authorization; there are no cookies). The
 * same lists configure API Gateway's CORS in AWS (stacks/api.ts), which answers preflights there.
 */
export const CORS = {
  allowMethods: ["GET", "POST", "PATCH", "DELETE"],
  allowHeaders: ["Authorization", "Content-Type"],
  /** What a page may read of a response besides the safelisted headers. */
  exposeHeaders: [
    "X-Request-Id",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "Location",
    "Idempotent-Replayed",
    "WWW-Authenticate",
  ],
  /** How long a browser may keep a preflight's answer (seconds). */
  maxAgeSeconds: 3600,
} as const;

/** CORS for the allowed origins (none → no middleware at all: a browser then allows same-origin pages only). */
export function corsFor(origins: readonly string[] | undefined): MiddlewareHandler | undefined {
  if (!origins || origins.length === 0) return undefined;
  const allowed = new Set(origins);
  return cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: [...CORS.allowMethods],
    allowHeaders: [...CORS.allowHeaders],
    exposeHeaders: [...CORS.exposeHeaders],
    maxAge: CORS.maxAgeSeconds,
    credentials: false,
  });
}
