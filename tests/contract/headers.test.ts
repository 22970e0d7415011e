/**
 * The HTTP contract's headers on real responses of the local runtime (over HTTP on 127.0.0.1): the key's quota
 * (RateLimit, RateLimit-Policy, draft-ietf-httpapi-ratelimit-headers-10) and Retry-After on a 429; the security
 * headers a browser client relies on; and CORS for the allowed origins only, preflights included.
 */

import { builtinSpecs } from "@nexus/agents/specs";
import { API_CSP, CORS, createApp } from "@nexus/api";
import { createLogger } from "@nexus/core";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { securityHeaders, setOnResponse } from "../../packages/api/src/middleware.js";
import { apiClient } from "../support/client.js";
import { startTestContext } from "../support/context.js";
import { useLocalNexus } from "../support/local.js";

const APP_ORIGIN = "https://app.example.com";
const local = useLocalNexus({ settings: { corsOrigins: [APP_ORIGIN, "http://localhost:5173"] } });

/** A structured-field item such as `"per-key";r=4;t=42`: its name and its integer parameters. */
function parseItem(value: string | null) {
  const [name = "", ...params] = (value ?? "").split(";");
  return {
    name: JSON.parse(name) as string,
    params: Object.fromEntries(params.map((p) => p.split("=")).map(([k, v]) => [k, Number(v)])),
  };
}

describe("rate-limit headers", () => {
  it("give the key's policy and what is left of it on every authenticated response, and Retry-After on a 429", async () => {
    const admin = local.api;
    const created = await admin.raw("POST", "/v1/keys", { name: "quota-5", role: "viewer", rateLimitPerMinute: 5 });
    expect(created.status).toBe(201);
    const viewer = apiClient(local.nexus.url, created.body.key);
    const seen: Array<{ status: number; remaining: number; reset: number }> = [];
    for (let i = 0; i < 7; i++) {
      // A success, an error the handler raises, and 429s: each carries the quota.
      const reply = await viewer.raw("GET", i === 1 ? "/v1/agents/no-such-agent" : "/v1/agents?limit=1");
      const policy = parseItem(reply.headers.get("ratelimit-policy"));
      const now = parseItem(reply.headers.get("ratelimit"));
      expect(policy).toEqual({ name: "per-key", params: { q: 5, w: 60 } });
      expect(now.name).toBe("per-key");
      expect(now.params.t).toBeGreaterThanOrEqual(1);
      expect(now.params.t).toBeLessThanOrEqual(60);
      seen.push({ status: reply.status, remaining: now.params.r ?? -1, reset: now.params.t ?? -1 });
      if (reply.status === 429) {
        const retryAfter = Number(reply.headers.get("retry-after"));
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBe(now.params.t);
        expect(reply.body.error.code).toBe("rate_limited");
      }
    }
    // Five in the minute, then refused: unless the clock minute turned meanwhile (the window starts again).
    const turned = seen.some((s, i) => i > 0 && s.reset > (seen[i - 1]?.reset ?? 0));
    if (!turned) {
      expect(seen.map((s) => s.status)).toEqual([200, 404, 200, 200, 200, 429, 429]);
      expect(seen.map((s) => s.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    }
  });

  it("are absent where no key was accepted: public health, and a 401", async () => {
    const anonymous = apiClient(local.nexus.url);
    for (const path of ["/v1/health", "/v1/agents"]) {
      const reply = await anonymous.raw("GET", path);
      expect(reply.headers.get("ratelimit"), path).toBeNull();
      expect(reply.headers.get("ratelimit-policy"), path).toBeNull();
    }
  });
});

describe("security headers", () => {
  it("are on every response: JSON successes and errors, the document, unknown paths", async () => {
    const anonymous = apiClient(local.nexus.url);
    const replies = [
      await local.api.raw("GET", "/v1/agents?limit=1"),
      await local.api.raw("POST", "/v1/tasks", { agentId: "nope" }),
      await anonymous.raw("GET", "/v1/agents"),
      await anonymous.raw("GET", "/v1/health"),
      await anonymous.raw("GET", "/openapi.json"),
      await anonymous.raw("GET", "/no/such/path"),
    ];
    expect(replies.map((r) => r.status)).toEqual([200, 400, 401, 200, 200, 404]);
    for (const reply of replies) {
      expect(reply.headers.get("content-security-policy")).toBe(API_CSP);
      expect(reply.headers.get("x-frame-options")).toBe("DENY");
      expect(reply.headers.get("x-content-type-options")).toBe("nosniff");
      expect(reply.headers.get("referrer-policy")).toBe("no-referrer");
      expect(reply.headers.get("cache-control")).toBe("no-store");
      // Local runs are plain HTTP: no HSTS (a browser would pin a host that has no HTTPS).
      expect(reply.headers.get("strict-transport-security")).toBeNull();
    }
  });

  it("leave a page its own Content-Security-Policy, and deny framing one that sets none", async () => {
    const docs = await fetch(`${local.nexus.url}/docs`);
    await docs.text();
    expect(docs.headers.get("content-type")).toMatch(/^text\/html/);
    expect(docs.headers.get("content-security-policy")).not.toBe(API_CSP);
    expect(docs.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    expect(docs.headers.get("x-frame-options")).toBe("DENY");
  });
});

describe("CORS", () => {
  const preflight = (origin: string, method = "POST") =>
    fetch(`${local.nexus.url}/v1/tasks`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": method,
        "access-control-request-headers": "authorization,content-type",
      },
    });

  it("answers an allowed origin's preflight without a key, naming exactly that origin", async () => {
    const res = await preflight(APP_ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(res.headers.get("access-control-allow-methods")?.split(",")).toEqual(expect.arrayContaining(["POST"]));
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase().split(",")).toEqual(
      expect.arrayContaining(["authorization", "content-type"]),
    );
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    expect(res.headers.get("access-control-max-age")).toBe(String(CORS.maxAgeSeconds));
    expect(res.headers.get("vary")).toMatch(/origin/i);
  });

  it("lets an allowed origin read responses and the quota headers; others get no CORS grant", async () => {
    const allowed = await local.api.raw("GET", "/v1/agents?limit=1", undefined, { headers: { origin: APP_ORIGIN } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(allowed.headers.get("access-control-expose-headers")?.split(",")).toEqual(
      expect.arrayContaining(["RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-Id"]),
    );
    for (const origin of ["https://evil.example.com", "https://app.example.com.evil.test", "null", "*"]) {
      const other = await local.api.raw("GET", "/v1/agents?limit=1", undefined, { headers: { origin } });
      expect(other.headers.get("access-control-allow-origin"), origin).toBeNull();
      const refused = await preflight(origin);
      expect(refused.headers.get("access-control-allow-origin"), origin).toBeNull();
    }
    // An error a page caused is readable by it too.
    const error = await apiClient(local.nexus.url).raw("GET", "/v1/agents", undefined, {
      headers: { origin: APP_ORIGIN },
    });
    expect(error.status).toBe(401);
    expect(error.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
  });
});

describe("CORS by default", () => {
  it("is off: no preflight answer, no grant to any origin", async () => {
    const env = await startTestContext({});
    try {
      const app = createApp({ ctx: env.ctx, logger: createLogger("nexus-test", { level: "SILENT" }), builtinSpecs });
      const preflight = await app.request("/v1/tasks", {
        method: "OPTIONS",
        headers: { origin: APP_ORIGIN, "access-control-request-method": "POST" },
      });
      expect(preflight.status).not.toBe(204);
      expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
      expect(preflight.headers.get("access-control-allow-methods")).toBeNull();
      const health = await app.request("/v1/health", { headers: { origin: APP_ORIGIN } });
      expect(health.status).toBe(200);
      expect(health.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await env.stop();
    }
  });
});

describe("headers set after the handler", () => {
  it("are set on the response as made: its status and body untouched", async () => {
    const app = new Hono();
    app.use(securityHeaders({ hsts: true }));
    app.get("/json", (c) => c.json({ ok: true }, 201));
    const res = await app.request("/json");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-security-policy")).toBe(API_CSP);
    expect(res.headers.get("strict-transport-security")).toMatch(/^max-age=/);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ ok: true });
  });

  it("go in place where the response's headers may change, through c.header where they may not", () => {
    const given: Array<[string, string]> = [];
    const header = (name: string, value: string | undefined) => {
      given.push([name, value ?? ""]);
    };
    const mutable = new Response("{}", { headers: { "content-type": "application/json" } });
    setOnResponse({ res: mutable, header } as never, { "X-Frame-Options": "DENY", RateLimit: "r=1" });
    expect(given).toEqual([]);
    expect(mutable.headers.get("x-frame-options")).toBe("DENY");
    expect(mutable.headers.get("ratelimit")).toBe("r=1");

    // Headers a response was made with immutable (Response.redirect's, a fetched response's) refuse any change, as
    // these do: where the local server has replaced the global Response, Response.redirect's no longer are.
    const immutable = {
      headers: {
        set: () => {
          throw new TypeError("immutable");
        },
      },
    };
    setOnResponse({ res: immutable, header } as never, { "X-Frame-Options": "DENY", RateLimit: "r=1" });
    expect(given).toEqual([
      ["X-Frame-Options", "DENY"],
      ["RateLimit", "r=1"],
    ]);
  });
});
