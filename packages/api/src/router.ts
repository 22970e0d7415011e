import type { RouteConfig, RouteHandler } from "@hono/zod-openapi";
import { type Hook, zValidator } from "@hono/zod-validator";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodType } from "zod";
import type { Env } from "./middleware.js";

/** What a route's input refused by its schema becomes (errors.ts: `validationHook`). */
// biome-ignore lint/suspicious/noExplicitAny: one hook serves every route, whatever its input type (as OpenAPIHono's defaultHook)
export type ValidationHook = Hook<any, Env, any>;

/**
 * The API's app: Hono whose `openapi(route, handler)` does at run time what @hono/zod-openapi's `OpenAPIHono.openapi`
 * does (the route's middleware, a validator per declared input, then the handler), without that library. Importing it
 * extends zod's whole namespace (every locale, JSON Schema in and out), which a cold start would then load; the routes
 * are kept instead, and the library writes the OpenAPI document from them when it is first asked for (document.ts).
 * Only the inputs Nexus routes declare are supported: path params, query and a JSON body.
 */
export class ApiApp extends Hono<Env> {
  /** The routes as declared (without their middleware), in order: what the OpenAPI document describes. */
  readonly definitions: RouteConfig[] = [];

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
    this.on([route.method], [route.path.replaceAll(/\/{(.+?)}/g, "/:$1")], ...handlers);
    return this;
  }
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
