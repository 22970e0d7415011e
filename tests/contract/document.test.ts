/**
 * The OpenAPI document as clients and generators read it: every operation named (operationId), summarized and tagged;
 * every status the middleware can answer documented with the one error body; patterns any JSON Schema client can use;
 * and `redocly lint` with its recommended rules finding nothing (run on the document as served).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinSpecs } from "@nexus/agents/specs";
import { createApp } from "@nexus/api";
import { createLogger } from "@nexus/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as z from "zod";
import type { RouteName } from "../../packages/api/src/router.js";
import type { Json } from "../support/client.js";
import { startTestContext } from "../support/context.js";

let env: Awaited<ReturnType<typeof startTestContext>>;
let app: ReturnType<typeof createApp>;
let doc: Json;

beforeAll(async () => {
  env = await startTestContext({});
  app = createApp({ ctx: env.ctx, logger: createLogger("nexus-test", { level: "SILENT" }), builtinSpecs });
  const res = await app.request("/openapi.json");
  expect(res.status).toBe(200);
  doc = await res.json();
});
afterAll(async () => {
  await env?.stop();
});

const METHODS = ["get", "post", "put", "patch", "delete"];
const operations = () =>
  Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, path, method, op })),
  );

describe("every operation", () => {
  it("has a unique camelCase operationId, a summary and a described tag", () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(ids.length).toBeGreaterThanOrEqual(40);
    expect(new Set(ids).size).toBe(ids.length);
    const described = new Map((doc.tags as Array<{ name: string; description?: string }>).map((t) => [t.name, t]));
    for (const { name, op } of operations()) {
      expect(op.operationId, name).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      expect(op.summary?.trim(), name).toBeTruthy();
      expect(op.tags?.length, name).toBeGreaterThan(0);
      for (const tag of op.tags) expect(described.get(tag)?.description, `${name}: tag ${tag}`).toBeTruthy();
    }
    const byName = Object.fromEntries(operations().map(({ name, op }) => [name, op.operationId]));
    expect(byName).toMatchObject({
      "GET /v1/tasks": "listTasks",
      "POST /v1/tasks": "submitTask",
      "GET /v1/tasks/{id}": "getTask",
      "POST /v1/schedules/{id}/run-now": "runScheduleNow",
      "GET /v1/health": "getHealth",
    });
  });

  it("documents the statuses the middleware answers with, each >= 400 with the one error schema", () => {
    for (const { name, method, op } of operations()) {
      const statuses = Object.keys(op.responses);
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      const expected = ["413", "500"];
      if (!isPublic) expected.push("401", "403", "429", "503");
      if ((op.parameters ?? []).length > 0 || ["post", "put", "patch"].includes(method)) expected.push("400");
      if ((op.parameters ?? []).some((p: Json) => p.in === "path")) expected.push("404");
      if (["post", "put", "patch"].includes(method)) expected.push("415");
      expect(statuses, name).toEqual(expect.arrayContaining(expected));
      for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
        expect(response.headers?.["X-Request-Id"], `${name} ${status}`).toBeDefined();
        if (Number(status) < 400) continue;
        expect(response.content, `${name} ${status}`).toEqual({
          "application/json": { schema: { $ref: "#/components/schemas/Error" } },
        });
        if (!isPublic && status !== "401") expect(Object.keys(response.headers)).toContain("RateLimit");
      }
      if (!isPublic) {
        expect(Object.keys(op.responses["429"].headers)).toEqual(
          expect.arrayContaining(["Retry-After", "RateLimit", "RateLimit-Policy"]),
        );
        expect(Object.keys(op.responses["401"].headers)).toContain("WWW-Authenticate");
        expect(Object.keys(op.responses["503"].headers)).toContain("Retry-After");
      }
    }
    expect(doc.paths["/v1/health"].get.security).toEqual([]);
    expect(doc.security).toEqual([{ bearer: [] }]);
  });
});

describe("the document", () => {
  it("names its server relative to where it is served", () => {
    expect(doc.servers).toEqual([{ url: "/", description: expect.any(String) }]);
  });

  it("publishes only patterns any JSON Schema client can use (no flags, no property escapes)", () => {
    const patterns: string[] = [];
    const walk = (node: unknown) => {
      if (node === null || typeof node !== "object") return;
      for (const [key, value] of Object.entries(node)) {
        if (key === "pattern" && typeof value === "string") patterns.push(value);
        else walk(value);
      }
    };
    walk(doc);
    expect(patterns.length).toBeGreaterThan(10);
    for (const pattern of patterns) {
      expect(pattern).not.toMatch(/\/[a-z]+$/);
      expect(pattern).not.toMatch(/\\[pP]\{/);
      expect(() => new RegExp(pattern, "u")).not.toThrow();
    }
    // The schedule name's pattern: the same strings as zod's check, matched by a plain ECMA-262 regex.
    const name = new RegExp(doc.components.schemas.CreateScheduleInput.properties.name.pattern);
    expect(name.test("nightly report")).toBe(true);
    expect(name.test("Überprüfung 東京")).toBe(true);
    for (const control of ["a\u0000b", "a\u001fb", "a\u007fb", "a\u0085b", "a\u009fb"]) {
      expect(name.test(control), JSON.stringify(control)).toBe(false);
    }
  });

  it("refuses to describe a route without an operationId, or a pattern clients cannot match", async () => {
    const { openApiDocument } = await import("../../packages/api/src/document.js");
    const [first] = app.definitions;
    if (!first) throw new Error("no routes");
    const { operationId: _, ...unnamed } = first;
    expect(() => openApiDocument([unnamed], "0")).toThrow(/operationId in camelCase is required/);
    expect(() => openApiDocument([first, { ...first, path: "/v1/other" }], "0")).toThrow(/also GET \/v1\/health/);
    const flagged = {
      ...first,
      responses: {
        200: { description: "ok", content: { "application/json": { schema: z.string().regex(/^\p{L}+$/u) } } },
      },
    };
    expect(() => openApiDocument([flagged], "0")).toThrow(/pattern/);
  });

  it("describes the routes loaded on first use in their place, and refuses a module registering other routes", async () => {
    const { ApiApp } = await import("../../packages/api/src/router.js");
    const { validationHook } = await import("../../packages/api/src/errors.js");
    const [first, second, third] = (await app.allDefinitions()).filter(
      (d) => d.method === "get" && !d.path.includes("{"),
    );
    if (!first || !second || !third) throw new Error("too few routes");
    const ok = (c: { json(body: unknown): Response }) => c.json({ ok: true });
    const lazyApp = new ApiApp(validationHook);
    lazyApp.openapi(first, ok);
    let loaded = 0;
    lazyApp.lazy([`GET ${second.path}` as RouteName], (later) => {
      loaded++;
      later.openapi(second, ok);
    });
    lazyApp.openapi(third, ok);
    expect(loaded).toBe(0);
    expect((await lazyApp.request(second.path)).status).toBe(200);
    expect((await lazyApp.allDefinitions()).map((d) => d.path)).toEqual([first.path, second.path, third.path]);
    expect(loaded).toBe(1);

    const wrong = new ApiApp(validationHook);
    wrong.lazy([`GET ${second.path}` as RouteName], (later) => {
      later.openapi(third, ok);
    });
    await expect(wrong.allDefinitions()).rejects.toThrow(/not those declared/);
  });
});

/** Runs `redocly lint` (its recommended rules, as redocly.yaml says) on the document; resolves to its JSON report. */
async function redoclyLint(document: Json): Promise<{ totals: Json; problems: Json[] }> {
  const dir = mkdtempSync(join(tmpdir(), "nexus-openapi-"));
  try {
    const file = join(dir, "openapi.json");
    writeFileSync(file, JSON.stringify(document));
    const bin = join(process.cwd(), "node_modules/@redocly/cli/bin/cli.js");
    const config = join(process.cwd(), "redocly.yaml");
    const child = spawn(process.execPath, [bin, "lint", file, "--config", config, "--format=json"], {
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    const start = out.indexOf("{");
    if (start < 0) throw new Error(`redocly lint printed no report (exit ${code}): ${err}`);
    return JSON.parse(out.slice(start));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("redocly lint (recommended rules)", () => {
  it("finds no errors and no warnings", async () => {
    const report = await redoclyLint(doc);
    const found = report.problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message} (${p.location?.[0]?.pointer})`);
    expect(found).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it("reports what a broken document lacks (the check can fail)", async () => {
    const broken = structuredClone(doc);
    delete broken.paths["/v1/tasks"].get.operationId;
    delete broken.servers;
    const report = await redoclyLint(broken);
    const rules = report.problems.map((p) => p.ruleId);
    expect(rules).toEqual(expect.arrayContaining(["operation-operationId", "no-empty-servers"]));
  });
});
