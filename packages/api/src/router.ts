import type { RouteConfig, RouteHandler } from "@hono/zod-openapi";
import { type Hook, zValidator } from "@hono/zod-validator";
import { once } from "@nexus/core";
import { type Context, Hono, type MiddlewareHandler, type Next } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodType } from "zod";
import type { Env } from "./middleware.js";

/** What a route's input refused by its schema becomes (errors.ts: `validationHook`). */
// biome-ignore lint/suspicious/noExplicitAny: one hook serves every route, whatever its input type (as OpenAPIHono's defaultHook)
export type ValidationHook = Hook<any, Env, any>;

/** A route's method and path as declared, e.g. `GET /v1/schedules/{id}`. */
export type RouteName = `${"GET" | "POST" | "PUT" | "PATCH" | "DELETE"} /${string}`;

/** What registers a module's routes on an app. */
export type RegisterRoutes = (app: ApiApp) => void | Promise<void>;

/**
 * The API's app: Hono whose `openapi(route, handler)` does at run time what @hono/zod-openapi's `OpenAPIHono.openapi`
 * does (the route's middleware, a validator per declared input, then the handler), without that library. Importing it
 * extends zod's whole namespace (every locale, JSON Schema in and out), which a cold start would then load; the routes
 * are kept instead, and the library writes the OpenAPI document from them when it is first asked for (document.ts).
 * Only the inputs Nexus routes declare are supported: path params, query and a JSON body.
 *
 * Routes few requests need can be registered by a module imported on first use ({@link ApiApp.lazy}): their schemas
 * are built and their code loaded with the first request for one of them, or with the OpenAPI document.
 */
export class ApiApp extends Hono<Env> {
  /** The routes as declared (without their middleware), in order: what the OpenAPI document describes. */
  readonly definitions: RouteConfig[] = [];
  /** Each route's handlers (its middleware, validators and handler), by name. */
  private readonly chains = new Map<RouteName, MiddlewareHandler<Env>[]>();
  /** The modules registered with {@link lazy}, each with the place of its routes among the definitions. */
  private readonly deferred: { at: number; load: () => Promise<ApiApp> }[] = [];

  constructor(private readonly hook: ValidationHook) {
    super();
  }

  openapi<R extends RouteConfig>(route: R, handler: RouteHandler<R, Env>): this {
    const { middleware, hide, ...definition } = route;
    if (!hide) this.definitions.push(definition);
    const handlers = [
      ...(middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware]),
      ...validatorsOf(route, this.hook),
      handler,
    ] as MiddlewareHandler<Env>[];
    this.chains.set(`${route.method.toUpperCase()} ${route.path}` as RouteName, handlers);
    this.on([route.method], [honoPath(route.path)], ...handlers);
    return this;
  }

  /**
   * Routes `routes` (in the order `register` declares them), registered by `register` on first use: until then each
   * is a placeholder at its method and path, which loads them (once) and runs the route's handlers. `register`
   * typically imports the module of its routes with `import()`, which bundled with code splitting is a chunk of its
   * own. Matching, middleware, validation, responses and the OpenAPI document are those of routes registered at once.
   */
  lazy(routes: readonly RouteName[], register: RegisterRoutes): this {
    const load = once(async () => {
      const app = new ApiApp(this.hook);
      await register(app);
      const registered = [...app.chains.keys()];
      if (registered.join("\n") !== routes.join("\n")) {
        throw new Error(
          `lazily registered routes ${registered.join(", ")} are not those declared: ${routes.join(", ")}`,
        );
      }
      return app;
    });
    this.deferred.push({ at: this.definitions.length, load });
    for (const name of routes) {
      const [method, path] = name.split(" ") as [string, string];
      this.on([method.toLowerCase()], [honoPath(path)], async (c, next) => {
        const handlers = (await load()).chains.get(name) ?? [];
        return run(handlers, c, next);
      });
    }
    return this;
  }

  /** Every route's definition, in order, those of lazily registered modules included (loaded now where they are not). */
  async allDefinitions(): Promise<RouteConfig[]> {
    const all: RouteConfig[] = [];
    let from = 0;
    for (const { at, load } of this.deferred) {
      all.push(...this.definitions.slice(from, at), ...(await load()).definitions);
      from = at;
    }
    return [...all, ...this.definitions.slice(from)];
  }
}

/** `/v1/tasks/{id}` as Hono matches it: `/v1/tasks/:id`. */
const honoPath = (path: string) => path.replaceAll(/\/{(.+?)}/g, "/:$1");

/** Runs a route's handlers in the context of the request that reached its placeholder (as Hono composes them). */
async function run(handlers: MiddlewareHandler<Env>[], c: Context<Env>, next: Next): Promise<Response | undefined> {
  const dispatch = async (i: number): Promise<void> => {
    const handler = handlers[i];
    if (!handler) return next();
    const res = await handler(c, () => dispatch(i + 1));
    if (res instanceof Response && !c.finalized) c.res = res;
  };
  await dispatch(0);
  return c.finalized ? c.res : undefined;
}

const JSON_TYPE = /^application\/([a-z-.]+\+)?json/i;
/** A JSON request's content type, parameters allowed (as @hono/zod-openapi matches it). */
const JSON_REQUEST = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

function validatorsOf(route: RouteConfig, hook: ValidationHook): MiddlewareHandler<Env>[] {
  const { request } = route;
  if (request?.headers || request?.cookies) {
    throw new Error(`${route.method} ${route.path}: headers and cookies are not validated here`);
  }
  const validate = (target: "query" | "param" | "json", schema: ZodType) =>
    zValidator(target, schema, hook) as MiddlewareHandler<Env>;
  const validators: MiddlewareHandler<Env>[] = [];
  if (request?.query) validators.push(validate("query", request.query));
  if (request?.params) validators.push(validate("param", request.params));
  const content = request?.body?.content;
  if (!content) return validators;
  const types = Object.keys(content);
  const media = content["application/json"];
  const schema = media && "schema" in media ? media.schema : undefined;
  if (types.length !== 1 || !isZod(schema)) {
    throw new Error(`${route.method} ${route.path}: only a JSON body is validated here`);
  }
  validators.push(jsonOnlyBody);
  const validator = validate("json", schema);
  if (request?.body?.required) validators.push(validator);
  else validators.push(optionalBody(validator));
  return validators;
}

function isZod(schema: unknown): schema is ZodType {
  return typeof schema === "object" && schema !== null && "safeParseAsync" in schema;
}

/** 415 for a body that is not JSON: another content type, or bytes without one. */
const jsonOnlyBody: MiddlewareHandler<Env> = async (c, next) => {
  const type = c.req.header("content-type");
  if (type ? !JSON_REQUEST.test(type) : await hasBody(c)) {
    throw new HTTPException(415, { message: "Unsupported Media Type" });
  }
  await next();
};

/** A body the route may go without: validated when the request sends JSON, `{}` otherwise. */
const optionalBody =
  (validator: MiddlewareHandler<Env>): MiddlewareHandler<Env> =>
  async (c, next) => {
    const type = c.req.header("content-type");
    if (type && JSON_TYPE.test(type)) return validator(c, next);
    c.req.addValidatedData("json", {});
    await next();
  };

async function hasBody(c: Context<Env>): Promise<boolean> {
  const raw = c.req.raw;
  if (raw.body === null) return false;
  if (raw.bodyUsed) return (await c.req.arrayBuffer()).byteLength > 0;
  const body = raw.clone().body;
  if (body === null) return false;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return false;
      if (value.byteLength > 0) return true;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
