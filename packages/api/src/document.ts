import { OpenAPIRegistry, OpenApiGeneratorV31 } from "@asteasolutions/zod-to-openapi";
import type { RouteConfig } from "@hono/zod-openapi";
import { MAX_BODY_BYTES, MAX_RESULT_BODY_BYTES, RATE_LIMIT_POLICY } from "./middleware.js";

/** What each tag groups; a tag used by a route and missing here is published without a description (and linted). */
const TAGS: Record<string, string> = {
  system: "The API about itself: liveness",
  agents: "Agents: register, read, take out of service or back, delete; heartbeats",
  tasks: "Tasks: submit to an agent's action, list, read, cancel",
  plans: "Plans: multi-step workflows across agents, approval gates",
  schedules: "Schedules: tasks and plans on cron or rate expressions",
  "remote agents": "Workers outside AWS: claim a custom agent's tasks under a lease, then report them",
  failures: "The failures inbox: failed tasks and dead-lettered messages, and their redrive",
  keys: "API keys and their roles (admin only)",
  audit: "The audit trail of mutating requests (admin only)",
  events: "The activity of the whole system as a feed (and a stream where the runtime can), and each task's logs",
  backup: "The whole deployment as JSON Lines, exported page by page and imported into an empty one (admin only)",
};

/** The one error body every status >= 400 carries (errors.ts `ErrorBody`, component `Error`). */
const ERROR_CONTENT = { "application/json": { schema: { $ref: "#/components/schemas/Error" } } };

const kb = (bytes: number) => `${bytes / 1024} KB`;

/**
 * Statuses the API's own machinery (middleware.ts, router.ts, errors.ts) may answer any operation with, whatever its
 * handler does: documented on every operation they apply to, so that a route added later is documented without
 * declaring them. A route that declares one of them keeps its own description.
 */
const COMMON_ERRORS: Array<{ status: string; description: string; applies: (op: Operation) => boolean }> = [
  {
    status: "400",
    description:
      "Bad input: a path parameter, query parameter (unknown ones included) or body field is refused; error.details names each",
    applies: (op) => (op.op.parameters?.length ?? 0) > 0 || op.writes,
  },
  { status: "401", description: "No valid API key (see WWW-Authenticate)", applies: (op) => op.authenticated },
  { status: "403", description: "The key's role does not allow this operation", applies: (op) => op.authenticated },
  {
    status: "404",
    description: "Not found (or not visible to this key)",
    applies: (op) => op.hasPathParams,
  },
  {
    status: "413",
    description: `Request body too large: over ${kb(MAX_BODY_BYTES)} (a remote worker's result: ${kb(MAX_RESULT_BODY_BYTES)})`,
    applies: () => true,
  },
  { status: "415", description: "A request body that is not application/json", applies: (op) => op.writes },
  {
    status: "429",
    description: "The key's rate limit (see RateLimit) or a daily cap is reached: retry after Retry-After seconds",
    applies: (op) => op.authenticated,
  },
  { status: "500", description: "Internal error: quote error.requestId when reporting it", applies: () => true },
  {
    status: "503",
    description:
      "A backing service (DynamoDB, SQS, …) throttled or could not be reached: retry after Retry-After seconds, with the same idempotencyKey where the request has one",
    applies: (op) => op.authenticated,
  },
];

const HEADERS = {
  "X-Request-Id": { description: "This request's id, as logged and in error bodies", schema: { type: "string" } },
  RateLimit: {
    description: `The key's quota now (draft-ietf-httpapi-ratelimit-headers-10): policy, remaining requests (r) and seconds until the window resets (t), e.g. \`"${RATE_LIMIT_POLICY}";r=599;t=42\``,
    schema: { type: "string" },
  },
  "RateLimit-Policy": {
    description: `The key's quota policy (draft-ietf-httpapi-ratelimit-headers-10): requests (q) per window of w seconds, e.g. \`"${RATE_LIMIT_POLICY}";q=600;w=60\``,
    schema: { type: "string" },
  },
  "Retry-After": { description: "Seconds to wait before retrying", schema: { type: "integer", minimum: 1 } },
  "WWW-Authenticate": {
    description: 'The scheme to authenticate with: Bearer realm="nexus"',
    schema: { type: "string" },
  },
};
const header = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` });

interface Response {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema?: unknown }>;
}
/** An operation object of the document, as the generator wrote it. */
interface OperationObject {
  operationId?: string;
  summary?: string;
  tags?: string[];
  parameters?: Array<{ in: string }>;
  security?: unknown[];
  responses?: Record<string, Response>;
}
/** An operation of the document (`op` is the object in it: changes to it are the document's). */
interface Operation {
  name: string;
  op: OperationObject & { responses: Record<string, Response> };
  authenticated: boolean;
  writes: boolean;
  hasPathParams: boolean;
}

const OPERATION_ID = /^[a-z][a-zA-Z0-9]*$/;

/**
 * The API's OpenAPI 3.1 document, written from the routes as declared (router.ts) by the generator @hono/zod-openapi
 * uses, as its `doc31` would, then completed in one place: the statuses the middleware answers with, the response
 * headers, servers, tags and security. Imported with the first request for it; the generator takes no zod import of
 * its own, so zod's full namespace (every locale) stays out of the bundle. Throws when a route lacks an operationId or
 * a summary, or a schema publishes a pattern clients cannot use: a test reads the document, so such a route fails it.
 */
export function openApiDocument(routes: readonly RouteConfig[], version: string) {
  const registry = new OpenAPIRegistry();
  for (const route of routes) registry.registerPath(route);
  registry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key: Authorization: Bearer nxk_…",
  });
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "Nexus API",
      version,
      description: "Serverless agent orchestrator",
      license: { name: "MIT", identifier: "MIT" },
    },
    // Relative: the document describes the API that serves it, wherever that is (API Gateway, a custom domain,
    // 127.0.0.1 locally); OpenAPI resolves it against the document's own URL.
    servers: [{ url: "/", description: "The origin this document is served from" }],
    security: [{ bearer: [] }],
  });
  const operations = operationsOf(document.paths as Record<string, Record<string, unknown>>);
  checkOperations(operations);
  for (const op of operations) completeResponses(op);
  const used = [...new Set(operations.flatMap(({ op }) => op.tags ?? []))];
  const components = document.components ?? {};
  components.headers = structuredClone(HEADERS) as NonNullable<typeof components.headers>;
  checkPatterns(components, "#/components");
  checkPatterns(document.paths, "#/paths");
  dropUnreadableDiscriminators(document, (components.schemas ?? {}) as Record<string, SchemaNode>);
  return {
    ...document,
    components,
    tags: used.map((name) => (TAGS[name] ? { name, description: TAGS[name] } : { name })),
  };
}

const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);

/** The document's operations. */
function operationsOf(paths: Record<string, Record<string, unknown>>): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, value] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const op = value as OperationObject;
      op.responses ??= {};
      // A route without security declared is public: it says so (`security: []`), the document's default being a key.
      op.security ??= [];
      out.push({
        name: `${method.toUpperCase()} ${path}`,
        op: op as Operation["op"],
        authenticated: op.security.length > 0,
        writes: ["post", "put", "patch"].includes(method),
        hasPathParams: (op.parameters ?? []).some((p) => p.in === "path"),
      });
    }
  }
  return out;
}

/** Every operation has a unique camelCase operationId, a summary and a tag. */
function checkOperations(operations: readonly Operation[]) {
  const seen = new Map<string, string>();
  for (const { name, op } of operations) {
    if (!op.operationId || !OPERATION_ID.test(op.operationId)) {
      throw new Error(`${name}: an operationId in camelCase is required (e.g. listTasks), got ${op.operationId}`);
    }
    const other = seen.get(op.operationId);
    if (other) throw new Error(`${name}: operationId ${op.operationId} is also ${other}'s`);
    seen.set(op.operationId, name);
    if (!op.summary?.trim()) throw new Error(`${name}: a summary is required`);
    if (!op.tags?.length) throw new Error(`${name}: a tag is required`);
  }
}

/** Adds the common error statuses, the error body on every status >= 400, and the response headers. */
function completeResponses(operation: Operation) {
  const { op } = operation;
  for (const { status, description, applies } of COMMON_ERRORS) {
    if (applies(operation)) op.responses[status] ??= { description };
  }
  for (const [status, response] of Object.entries(op.responses)) {
    const code = Number(status);
    const headers: Record<string, unknown> = { ...response.headers, "X-Request-Id": header("X-Request-Id") };
    if (code >= 400) response.content = ERROR_CONTENT;
    // Every response to an authenticated request carries the key's quota; a request without a valid key has none.
    if (operation.authenticated && code !== 401) {
      headers.RateLimit = header("RateLimit");
      headers["RateLimit-Policy"] = header("RateLimit-Policy");
    }
    if (code === 401) headers["WWW-Authenticate"] = header("WWW-Authenticate");
    if (code === 429 || code === 503) headers["Retry-After"] = header("Retry-After");
    response.headers = headers;
  }
}

/** Pattern flags leaked into the published text (`…$/u`): the generator writes a regex's flags after its source. */
const LEAKED_FLAGS = /\/[dgimsuvy]+$/;

/**
 * Every `pattern` the document publishes is one any JSON Schema client can use: an ECMA-262 regular expression that
 * means the same with and without the `u` flag, so no flags, no Unicode property escapes (`\p{…}`), nothing else
 * only one mode accepts.
 */
function checkPatterns(node: unknown, at: string) {
  if (Array.isArray(node)) {
    node.forEach((child, i) => {
      checkPatterns(child, `${at}/${i}`);
    });
    return;
  }
  if (node === null || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node)) {
    const where = `${at}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    if (key === "pattern" && typeof value === "string") {
      const problem = patternProblem(value);
      if (problem) throw new Error(`${where}: the pattern ${JSON.stringify(value)} ${problem}`);
    } else {
      checkPatterns(value, where);
    }
  }
}

function patternProblem(pattern: string): string | undefined {
  if (LEAKED_FLAGS.test(pattern)) return "ends with regex flags, which a client would match literally";
  if (/\\[pP]\{/.test(pattern)) return "uses a Unicode property escape, which needs the u flag";
  try {
    new RegExp(pattern);
    new RegExp(pattern, "u");
  } catch (error) {
    return `is not a portable ECMA-262 regular expression (${(error as Error).message})`;
  }
  return undefined;
}

type SchemaNode = {
  required?: string[];
  $ref?: string;
  oneOf?: SchemaNode[];
  discriminator?: { propertyName: string };
};

/**
 * A `discriminator` whose property some member of the `oneOf` may omit (a plan step without `kind` is an agent step)
 * cannot pick the member: a generated client that trusts it fails to read such a value. It is left out; the `oneOf`
 * alone still tells the members apart (each `kind` is an enum of its own).
 */
function dropUnreadableDiscriminators(node: unknown, schemas: Record<string, SchemaNode>) {
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const child of node) dropUnreadableDiscriminators(child, schemas);
    return;
  }
  const schema = node as SchemaNode;
  if (schema.discriminator && schema.oneOf) {
    const { propertyName } = schema.discriminator;
    const members = schema.oneOf.map((m) => (m.$ref ? schemas[m.$ref.replace("#/components/schemas/", "")] : m));
    if (members.some((m) => !m?.required?.includes(propertyName))) delete schema.discriminator;
  }
  for (const child of Object.values(node)) dropUnreadableDiscriminators(child, schemas);
}
