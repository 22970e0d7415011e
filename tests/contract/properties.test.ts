/**
 * Property-based check of the contract, generated from the OpenAPI document itself: every operation it lists (so an
 * operation added later is covered without a change here) gets seeded, generated requests over HTTP against the local
 * runtime, valid ones (built from its parameter and body schemas) and invalid ones (bad path ids, unknown query keys,
 * wrong types, malformed, oversized or non-JSON bodies, no key, a key without the role). No answer may be a 5xx; every
 * status must be one the document lists for that operation, its body the document's error schema when >= 400; every
 * answer to a request whose key was accepted carries the rate-limit headers.
 *
 * CONTRACT_SEED and CONTRACT_RUNS (per operation) override the fixed seed and the number of runs.
 */
import { request as httpRequest } from "node:http";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Json } from "../support/client.js";
import { useLocalNexus } from "../support/local.js";

const SEED = Number(process.env.CONTRACT_SEED ?? 0x0c0ffee);
const RUNS = Number(process.env.CONTRACT_RUNS ?? 24);
const local = useLocalNexus();

type Schema = Json;
interface Operation {
  name: string;
  operationId: string;
  method: string;
  path: string;
  params: Array<{ name: string; in: string; required?: boolean; schema: Schema }>;
  body?: Schema;
  responses: Record<string, Json>;
  isPublic: boolean;
}
interface Generated {
  path: Record<string, string>;
  query: Array<[string, string]>;
  body?: { text: string; type?: string };
  auth: "admin" | "viewer" | "none" | "bogus";
  family: string;
}

let doc: Json;
let viewerKey: string;
/** Ids of real objects by the path parameter they fill, so valid requests reach the handlers' own checks. */
const known = { agents: [] as string[], custom: [] as string[], tasks: [] as string[], other: [] as string[] };

beforeAll(async () => {
  const api = local.api;
  doc = (await api.get("/openapi.json")).body;
  const agent = await api.post("/v1/agents", {
    name: "contract-agent",
    actions: [{ name: "echo", description: "Echoes its params" }],
  });
  if (agent.status !== 201) throw new Error(`agent: ${agent.status} ${JSON.stringify(agent.body)}`);
  known.custom.push(agent.body.id);
  const agents = (await api.get("/v1/agents?limit=100")).body.items.map((a: Json) => a.id as string);
  known.agents.push(...agents);
  for (let i = 0; i < 2; i++) {
    const task = await api.post("/v1/tasks", { agentId: agent.body.id, action: "echo", params: { i } });
    if (task.status !== 202) throw new Error(`task: ${task.status} ${JSON.stringify(task.body)}`);
    known.tasks.push(task.body.id);
  }
  const plan = await api.post("/v1/plans", {
    name: "contract-plan",
    steps: [{ id: "gate", kind: "approval", message: "Go on?" }],
  });
  if (plan.status !== 201) throw new Error(`plan: ${plan.status} ${JSON.stringify(plan.body)}`);
  known.other.push(plan.body.id, "gate");
  const viewer = await api.post("/v1/keys", { name: "contract-viewer", role: "viewer" });
  viewerKey = viewer.body.key;
  known.other.push(viewer.body.id);
});

const METHODS = ["get", "post", "put", "patch", "delete"];

function operationsOf(document: Json): Operation[] {
  return Object.entries(document.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({
        name: `${method.toUpperCase()} ${path}`,
        operationId: op.operationId,
        method,
        path,
        params: op.parameters ?? [],
        body: op.requestBody?.content?.["application/json"]?.schema,
        responses: op.responses,
        isPublic: Array.isArray(op.security) && op.security.length === 0,
      })),
  );
}

// ── JSON Schema (the document's) → values ──────────────────────────────────────────────────────────────

const resolve = (schema: Schema): Schema =>
  schema?.$ref ? resolve(doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")]) : schema;

/** Values the schema accepts, as far as JSON Schema says (refinements zod adds may still refuse some: a 4xx). */
function valuesOf(raw: Schema, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(raw) ?? {};
  if ("const" in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const members = schema.oneOf ?? schema.anyOf;
  if (members) return fc.oneof(...members.map((m: Schema) => valuesOf(m, depth + 1)));
  if (schema.allOf) return valuesOf(Object.assign({}, ...schema.allOf.map(resolve)), depth);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      return stringsOf(schema);
    case "integer":
    case "number": {
      const min = schema.minimum ?? (schema.exclusiveMinimum === undefined ? -1000 : schema.exclusiveMinimum + 1);
      const max = schema.maximum ?? (schema.exclusiveMaximum === undefined ? 1000 : schema.exclusiveMaximum - 1);
      return fc.integer({ min: Math.ceil(min), max: Math.floor(Math.max(min, max)) });
    }
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      if (depth > 4) return fc.constant([]);
      return fc.array(valuesOf(schema.items ?? {}, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 3, Math.max(schema.minItems ?? 0, 3)),
      });
    case "object": {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set<string>(schema.required ?? []);
      if (depth > 4) return fc.constant({});
      const record = Object.fromEntries(
        Object.entries(properties).map(([name, s]) => [name, hinted(name, valuesOf(s, depth + 1))]),
      );
      return fc.record(record, { requiredKeys: [...required].filter((name) => name in properties) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/**
 * Fields that name a real object (an agent, its action) take a real one half the time, so valid requests get past
 * the lookup to the handler's own work (a task is submitted, a failure list filtered) as often as they are refused.
 */
function hinted(name: string, generated: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const real: Record<string, () => string[]> = { agentId: () => known.custom, action: () => ["echo"] };
  const values = real[name]?.() ?? [];
  return values.length > 0 ? fc.oneof(fc.constantFrom(...values), generated) : generated;
}

function stringsOf(schema: Schema): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.max(minLength, Math.min(schema.maxLength ?? 40, 200));
  if (schema.format === "date-time") return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
  if (!schema.pattern) return fc.string({ minLength, maxLength });
  // `^[class]+$`: characters of the class, within the lengths; other patterns as fast-check reads them (a length
  // the schema refuses then makes an invalid request, answered with a 400).
  const charClass = /^\^(\[[^\]]+\])[+*]\$$/.exec(schema.pattern)?.[1];
  if (charClass) return fc.string({ unit: fc.stringMatching(new RegExp(`^${charClass}$`)), minLength, maxLength });
  return fc.stringMatching(new RegExp(schema.pattern));
}

/** A value of another JSON type than the schema's. */
const wrongTyped = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constant("not-what-was-asked"),
  fc.constant([1, "two"]),
  fc.constant({ unexpected: true }),
);

// ── Requests ───────────────────────────────────────────────────────────────────────────────────────────

/** Path ids: real objects' ids, plausible ones, and ids no route should take (too long, odd characters). */
function idsFor(op: Operation, name: string): fc.Arbitrary<string> {
  // A claim on a custom agent long-polls (up to 20 s): its real ids are left out here.
  const real =
    op.operationId === "claimTasks"
      ? known.agents.filter((id) => !known.custom.includes(id))
      : [...known.agents, ...known.tasks, ...known.other];
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...real, name === "stepId" ? "gate" : "missing-id") },
    { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9_-]{1,64}$/) },
    { weight: 1, arbitrary: fc.string({ minLength: 65, maxLength: 120 }) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 12 }).filter((s) => s !== "." && s !== ".."),
    },
  );
}

function requestsFor(op: Operation): fc.Arbitrary<Generated> {
  const pathParams = op.params.filter((p) => p.in === "path");
  const queryParams = op.params.filter((p) => p.in === "query");
  const path = fc.record(Object.fromEntries(pathParams.map((p) => [p.name, idsFor(op, p.name)]))) as fc.Arbitrary<
    Record<string, string>
  >;
  const validQuery = fc
    .tuple(...queryParams.map((p) => fc.option(valuesOf(p.schema).map((v) => [p.name, String(v)] as [string, string]))))
    .map((pairs) => pairs.filter((pair): pair is [string, string] => pair !== null));
  const query = fc.oneof(
    { weight: 3, arbitrary: validQuery },
    {
      weight: 1,
      arbitrary: fc
        .tuple(validQuery, fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/), fc.string({ maxLength: 8 }))
        .filter(([, key]) => !queryParams.some((p) => p.name === key))
        .map(([pairs, key, value]) => [...pairs, [key, value] as [string, string]]),
    },
    {
      weight: queryParams.length > 0 ? 1 : 0,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...queryParams.map((p) => p.name), "limit"),
          fc.constantFrom("abc", "-1", "1e99", "", "ä"),
        )
        .map(([key, value]) => [[key, value] as [string, string]]),
    },
  );
  const auth = fc.constantFrom<Generated["auth"]>("admin", "admin", "admin", "admin", "viewer", "none", "bogus");
  const family = (name: string, body?: fc.Arbitrary<Generated["body"]>) =>
    fc.record({ path, query, auth, body: body ?? fc.constant(undefined), family: fc.constant(name) });
  const json = (value: unknown) => ({ text: JSON.stringify(value), type: "application/json" });
  if (!op.body) {
    return fc.oneof(
      { weight: 4, arbitrary: family("no body") },
      // fetch sends no body with a GET.
      { weight: op.method === "get" ? 0 : 1, arbitrary: family("unexpected body", fc.constant(json({ stray: 1 }))) },
    );
  }
  const valid = valuesOf(op.body);
  return fc.oneof(
    { weight: 4, arbitrary: family("valid body", valid.map(json)) },
    {
      weight: 2,
      arbitrary: family(
        "wrong type in body",
        fc.tuple(valid, wrongTyped, fc.nat()).map(([value, wrong, pick]) => {
          if (value === null || typeof value !== "object" || Array.isArray(value)) return json(wrong);
          const keys = Object.keys(value);
          if (keys.length === 0) return json(wrong);
          return json({ ...value, [keys[pick % keys.length] as string]: wrong });
        }),
      ),
    },
    { weight: 1, arbitrary: family("body of another type", wrongTyped.map(json)) },
    {
      weight: 1,
      arbitrary: family(
        "malformed JSON",
        fc
          .constantFrom('{"a":', "{'a':1}", "[1,2", '{"a":1}}', "nul")
          .map((text) => ({ text, type: "application/json" })),
      ),
    },
    {
      weight: 1,
      arbitrary: family(
        "not JSON",
        fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "application/xml").map((type) => ({
          text: "a=1",
          type,
        })),
      ),
    },
    { weight: 1, arbitrary: family("no content type", fc.constant({ text: '{"a":1}' })) },
    { weight: 1, arbitrary: family("empty body", fc.constant({ text: "", type: "application/json" })) },
    {
      weight: 1,
      arbitrary: family("oversized body", fc.constant(json({ pad: "x".repeat(300 * 1024) }))),
    },
  );
}

/**
 * Sends one request on a connection of its own (node:http, no agent): a refusal answered before its body was read
 * closes the connection, and a reused one would then fail the next request with a reset that says nothing of the API.
 */
function send(op: Operation, request: Generated) {
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(request.path[name] ?? ""));
  const search = new URLSearchParams(request.query).toString();
  const headers: Record<string, string> = {};
  if (request.auth === "admin") headers.authorization = `Bearer ${local.nexus.adminKey}`;
  if (request.auth === "viewer") headers.authorization = `Bearer ${viewerKey}`;
  if (request.auth === "bogus") headers.authorization = "Bearer nxk_not_a_key";
  if (request.body?.type) headers["content-type"] = request.body.type;
  const body = request.body === undefined ? undefined : Buffer.from(request.body.text);
  if (body) headers["content-length"] = String(body.byteLength);
  const url = new URL(`${local.nexus.url}${path}${search ? `?${search}` : ""}`);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>(
    (resolve, reject) => {
      const req = httpRequest(url, { method: op.method.toUpperCase(), headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }),
        );
        res.on("error", reject);
      });
      // The server may answer (413, 401) and close before it has read all of a body: that is not the request failing.
      req.on("error", (error: NodeJS.ErrnoException) => {
        if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
      });
      req.end(body);
    },
  );
}

// ── The document's error schema, checked on answers ────────────────────────────────────────────────────

/** Whether a value matches a JSON Schema of the kinds the error body uses (objects, strings, anything). */
function matches(value: unknown, raw: Schema): boolean {
  const schema = resolve(raw) ?? {};
  if (schema.type === "string") return typeof value === "string";
  if (schema.type === "object") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
    const record = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    if ((schema.required ?? []).some((name: string) => !(name in record))) return false;
    if (schema.additionalProperties === false && Object.keys(record).some((k) => !(k in properties))) return false;
    return Object.entries(properties).every(([name, s]) => !(name in record) || matches(record[name], s));
  }
  return true;
}

describe("every operation in the document", () => {
  it("answers generated valid and invalid requests with documented statuses only, never a 5xx", async () => {
    const operations = operationsOf(doc);
    expect(operations.length).toBeGreaterThanOrEqual(40);
    const errorSchema = { $ref: "#/components/schemas/Error" };
    const tally: Record<string, Record<string, number>> = {};
    for (const op of operations) {
      tally[op.operationId] = {};
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(requestsFor(op), async (request) => {
          const reply = await send(op, request);
          const counts = tally[op.operationId] as Record<string, number>;
          counts[reply.status] = (counts[reply.status] ?? 0) + 1;
          const context = `${op.name} (${request.family}, ${request.auth}) → ${reply.status} ${reply.text.slice(0, 300)}`;
          expect(reply.status, context).toBeLessThan(500);
          expect(Object.keys(op.responses), context).toContain(String(reply.status));
          if (reply.status >= 400) {
            expect(matches(JSON.parse(reply.text), errorSchema), context).toBe(true);
          }
          const accepted = !op.isPublic && ["admin", "viewer"].includes(request.auth) && reply.status !== 401;
          if (accepted) expect(reply.headers.ratelimit, context).toMatch(/^"per-key";r=\d+;t=\d+$/);
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
      if (process.env.CONTRACT_VERBOSE) {
        process.stderr.write(
          `${op.operationId}: ${Date.now() - started} ms ${JSON.stringify(tally[op.operationId])}\n`,
        );
      }
    }
    // Both kinds of answer were seen across the operations: successes and refusals.
    const statuses = Object.values(tally).flatMap((counts) => Object.keys(counts).map(Number));
    expect(statuses.some((s) => s < 300)).toBe(true);
    for (const status of [400, 401, 403, 404, 413, 415]) expect(statuses, String(status)).toContain(status);
  }, 180_000);
});
