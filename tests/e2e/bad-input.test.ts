import { beforeAll, describe, expect, it } from "vitest";
import { useLocalNexus } from "../support/local.js";

const local = useLocalNexus();

beforeAll(async () => {
  await local.api.post("/v1/agents", {
    name: "strict-agent",
    actions: [
      {
        name: "act",
        params: {
          type: "object",
          properties: { n: { type: "integer", minimum: 0, maximum: 10 } },
          required: ["n"],
          additionalProperties: false,
        },
      },
    ],
  });
});

const deep = (levels: number): unknown =>
  levels === 0 ? { type: "string" } : { type: "object", properties: { x: deep(levels - 1) } };
const big = (bytes: number) => "x".repeat(bytes);
const json = (value: unknown) => JSON.stringify(value);

interface Case {
  name: string;
  method?: string;
  path: string;
  body?: string;
  type?: string | null;
  status: number;
  code?: string;
  /** A field the error must name. */
  names?: string;
}

const cases: Case[] = [
  { name: "malformed JSON", path: "/v1/tasks", body: '{"agentId":', status: 400, code: "malformed_json" },
  { name: "array body", path: "/v1/tasks", body: "[]", status: 400, code: "validation_error" },
  { name: "string body", path: "/v1/tasks", body: '"diag"', status: 400 },
  { name: "null body", path: "/v1/tasks", body: "null", status: 400 },
  { name: "number body", path: "/v1/tasks", body: "42", status: 400 },
  { name: "empty object", path: "/v1/tasks", body: "{}", status: 400, names: "agentId" },
  {
    name: "agentId of wrong type",
    path: "/v1/tasks",
    body: json({ agentId: 5, action: "echo" }),
    status: 400,
    names: "agentId",
  },
  { name: "missing action", path: "/v1/tasks", body: json({ agentId: "diag" }), status: 400, names: "action" },
  {
    name: "server-owned field",
    path: "/v1/tasks",
    body: json({ agentId: "diag", action: "echo", status: "succeeded" }),
    status: 400,
    names: "status",
  },
  {
    name: "__proto__ key",
    path: "/v1/tasks",
    body: '{"agentId":"diag","action":"echo","__proto__":{"admin":true}}',
    status: 400,
  },
  {
    name: "params failing the schema (negative)",
    path: "/v1/tasks",
    body: json({ agentId: "diag", action: "sleep", params: { ms: -1 } }),
    status: 400,
    names: "params.ms",
  },
  {
    name: "params failing the schema (string for number)",
    path: "/v1/tasks",
    body: json({ agentId: "diag", action: "sleep", params: { ms: "10" } }),
    status: 400,
    names: "params.ms",
  },
  {
    name: "params over the sleep bound",
    path: "/v1/tasks",
    body: json({ agentId: "diag", action: "sleep", params: { ms: 10 ** 9 } }),
    status: 400,
    names: "params.ms",
  },
  {
    name: "params with an unknown field",
    path: "/v1/tasks",
    body: json({ agentId: "strict-agent", action: "act", params: { n: 1, m: 2 } }),
    status: 400,
  },
  {
    name: "params not an object",
    path: "/v1/tasks",
    body: json({ agentId: "diag", action: "echo", params: [1] }),
    status: 400,
  },
  {
    name: "body over 256 KB",
    path: "/v1/tasks",
    body: json({ agentId: "diag", action: "echo", params: { s: big(300_000) } }),
    status: 413,
  },
  {
    name: "text/plain body",
    path: "/v1/tasks",
    body: json({ agentId: "diag", action: "echo" }),
    type: "text/plain",
    status: 415,
  },
  { name: "form body", path: "/v1/agents", body: "name=x", type: "application/x-www-form-urlencoded", status: 415 },
  {
    name: "idempotency key with spaces",
    path: "/v1/tasks",
    body: json({ agentId: "diag", action: "echo", idempotencyKey: "a b" }),
    status: 400,
    names: "idempotencyKey",
  },
  { name: "unknown agent", path: "/v1/tasks", body: json({ agentId: "ghost", action: "echo" }), status: 404 },
  { name: "agentId not a slug", path: "/v1/tasks", body: json({ agentId: "../../etc", action: "echo" }), status: 400 },
  { name: "limit 0", method: "GET", path: "/v1/tasks?limit=0", status: 400, names: "limit" },
  { name: "limit 1000", method: "GET", path: "/v1/tasks?limit=1000", status: 400, names: "limit" },
  { name: "limit not a number", method: "GET", path: "/v1/tasks?limit=abc", status: 400, names: "limit" },
  { name: "unknown status", method: "GET", path: "/v1/tasks?status=done", status: 400, names: "status" },
  { name: "garbage cursor", method: "GET", path: "/v1/tasks?cursor=%%%garbage", status: 400 },
  { name: "base64 non-JSON cursor", method: "GET", path: "/v1/tasks?cursor=aGVsbG8", status: 400 },
  { name: "unknown query field", method: "GET", path: "/v1/tasks?order=asc", status: 400 },
  { name: "repeated query field", method: "GET", path: "/v1/tasks?status=queued&status=failed", status: 400 },
  { name: "huge task id", method: "GET", path: `/v1/tasks/${big(5000)}`, status: 400 },
  { name: "unknown task", method: "GET", path: "/v1/tasks/tsk_nothere", status: 404 },
  { name: "NUL agent id", method: "GET", path: "/v1/agents/%00", status: 404 },
  { name: "cancel unknown task", path: "/v1/tasks/tsk_nothere/cancel", status: 404 },
  {
    name: "agent name not a slug",
    path: "/v1/agents",
    body: json({ name: "Diag!", actions: [{ name: "a" }] }),
    status: 400,
    names: "name",
  },
  {
    name: "agent without actions",
    path: "/v1/agents",
    body: json({ name: "no-actions", actions: [] }),
    status: 400,
    names: "actions",
  },
  {
    name: "duplicate action names",
    path: "/v1/agents",
    body: json({ name: "dupes", actions: [{ name: "a" }, { name: "a" }] }),
    status: 400,
    names: "actions",
  },
  {
    name: "$ref in params schema",
    path: "/v1/agents",
    body: json({ name: "refs", actions: [{ name: "a", params: { $ref: "http://evil.example/schema" } }] }),
    status: 400,
  },
  {
    name: "required names an undeclared property",
    path: "/v1/agents",
    body: json({ name: "reqs", actions: [{ name: "a", params: { type: "object", properties: {}, required: ["x"] } }] }),
    status: 400,
    names: "required",
  },
  {
    name: "params schema nested too deep",
    path: "/v1/agents",
    body: json({ name: "deep", actions: [{ name: "a", params: deep(12) }] }),
    status: 400,
  },
  {
    name: "invalid regex pattern",
    path: "/v1/agents",
    body: json({ name: "regex", actions: [{ name: "a", params: { type: "string", pattern: "([" } }] }),
    status: 400,
  },
  {
    name: "retry policy out of bounds",
    path: "/v1/agents",
    body: json({ name: "retries", actions: [{ name: "a", retry: { maxAttempts: 1000 } }] }),
    status: 400,
    names: "maxAttempts",
  },
  { name: "agents: wrong method", method: "DELETE", path: "/v1/agents", status: 404 },
];

async function snapshot() {
  const agents = await local.api.get("/v1/agents?limit=100");
  const tasks = await local.api.get("/v1/tasks?limit=100");
  return { agents: agents.body, tasks: tasks.body };
}

describe("bad input never yields a 5xx or changes stored data", () => {
  it("answers every case of the table with the right 4xx and a JSON error naming the problem", async () => {
    const before = await snapshot();
    for (const c of cases) {
      const method = c.method ?? "POST";
      const headers: Record<string, string> = {};
      const type = c.type === undefined ? "application/json" : c.type;
      if (c.body !== undefined && type) headers["content-type"] = type;
      const reply = await local.api.raw(method, c.path, undefined, {
        headers,
        ...(c.body === undefined ? {} : { body: c.body }),
      });
      const label = `${c.name}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`;
      expect(reply.status, label).toBe(c.status);
      expect(reply.body?.error?.code, label).toEqual(c.code ?? expect.any(String));
      expect(reply.body.error.message, label).toEqual(expect.any(String));
      expect(JSON.stringify(reply.body), label).not.toMatch(/\bat .*\.(ts|js):\d+/);
      expect(reply.headers.get("x-request-id"), label).toBeTruthy();
      if (c.names) expect(JSON.stringify(reply.body.error), label).toContain(c.names);
    }
    const after = await snapshot();
    expect(after).toEqual(before);
  });
});
