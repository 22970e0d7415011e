import type { RouteConfig } from "@hono/zod-openapi";
import type { Context } from "@nexus/core";
import * as Events from "@nexus/core/events";
import * as Keys from "@nexus/core/keys";
import { pure } from "@nexus/core/pure";
import type { Context as HonoContext } from "hono";
import { streamSSE } from "hono/streaming";
import * as z from "zod";
import { ACCESS, allowed, type RouteKey } from "../access.js";
import { ErrorBody, errorResponse } from "../errors.js";
import type { Env } from "../middleware.js";
import { denied, errors, json, route } from "../openapi.js";
import type { ApiApp } from "../router.js";

const Me = /* @__PURE__ */ pure(() =>
  z
    .object({
      keyId: z.string(),
      name: z.string(),
      role: Keys.Role,
      agentId: z.string().nullable(),
      can: z.array(z.string()).describe("The routes this key may call, as `METHOD /path` (see the access table)"),
    })
    .meta({ id: "Me" }),
);

const StreamEventsQuery = Events.ListEventsQuery.extend({
  seconds: z.coerce
    .number()
    .int()
    .min(1)
    .max(300)
    .default(300)
    .describe("How long the stream stays open; then reconnect with the last event's cursor"),
});

const routes = {
  getMe: route("GET /v1/me", {
    method: "get",
    path: "/v1/me",
    operationId: "getMe",
    tags: ["system"],
    summary: "The key making the request: its id, name, role and what it may call",
    responses: { 200: json(Me, "The key"), ...denied },
  }),
  listEvents: route("GET /v1/events", {
    method: "get",
    path: "/v1/events",
    operationId: "listEvents",
    tags: ["events"],
    summary: "The change feed: task, plan, agent and schedule events after a cursor, oldest first",
    request: { query: Events.ListEventsQuery },
    responses: { 200: json(Events.EventPage, "Events and where the next read starts"), 400: errors[400], ...denied },
  }),
  streamEvents: route("GET /v1/events/stream", {
    method: "get",
    path: "/v1/events/stream",
    operationId: "streamEvents",
    tags: ["events"],
    summary:
      "The change feed as server-sent events, where the runtime can stream (locally; poll GET /v1/events in AWS)",
    request: { query: StreamEventsQuery },
    responses: {
      200: {
        content: { "text/event-stream": { schema: z.string() } },
        description: "`event: feed` messages, each a FeedEvent as JSON with its cursor as the message id",
      },
      400: errors[400],
      501: json(ErrorBody, "Streaming is unavailable here (behind API Gateway): poll GET /v1/events"),
      ...denied,
    },
  }),
} satisfies Record<string, RouteConfig>;

/** How often a stream reads the feed, and sends a comment when there is nothing to say. */
const POLL_MS = 1000;
const KEEPALIVE_MS = 15_000;

/** Behind API Gateway in Lambda, where responses are buffered, there is no streaming. */
const inLambda = (c: HonoContext<Env>) => {
  const env = c.env as { event?: unknown; requestContext?: unknown } | undefined;
  return env?.event !== undefined || env?.requestContext !== undefined;
};

/** Who the caller is (`GET /v1/me`), and the system's change feed, as pages and as a stream. */
export function registerEventRoutes(app: ApiApp, options: { ctx: Context }) {
  const { ctx } = options;
  app.openapi(routes.getMe, async (c) => {
    const actor = c.get("actor") as Keys.Actor;
    const name = actor.keyId === "bootstrap" ? "bootstrap admin key" : (await Keys.get(ctx, actor.keyId)).name;
    const can = (Object.keys(ACCESS) as RouteKey[]).filter((key) => allowed(key, actor.role));
    return c.json({ keyId: actor.keyId, name, role: actor.role, agentId: actor.agentId, can }, 200);
  });
  app.openapi(routes.listEvents, async (c) => c.json(await Events.list(ctx, c.req.valid("query")), 200));
  app.openapi(routes.streamEvents, async (c) => {
    if (inLambda(c)) {
      return errorResponse(c, 501, "streaming_unavailable", "this deployment cannot stream: poll GET /v1/events");
    }
    const { seconds, ...query } = c.req.valid("query");
    const lastId = c.req.header("last-event-id");
    // The first read checks the cursor, so a bad one is a 400 rather than a broken stream.
    let page = await Events.list(ctx, lastId && query.after === undefined ? { ...query, after: lastId } : query);
    return streamSSE(c, async (stream) => {
      const until = Date.now() + seconds * 1000;
      let quietSince = Date.now();
      while (!stream.aborted && !stream.closed && Date.now() < until) {
        for (const event of page.items) {
          await stream.writeSSE({ id: event.cursor, event: "feed", data: JSON.stringify(event) });
        }
        if (page.items.length > 0) quietSince = Date.now();
        else if (Date.now() - quietSince > KEEPALIVE_MS) {
          await stream.write(": keepalive\n\n");
          quietSince = Date.now();
        }
        // A full page: read on at once; otherwise wait for more.
        if (page.items.length < query.limit) await stream.sleep(POLL_MS);
        if (stream.aborted || stream.closed) break;
        page = await Events.list(ctx, { ...query, after: page.nextCursor });
      }
    });
  });
}
