import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context as LambdaContext } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleAsStack } from "../bench/bundle.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * What a function's cold start loads: each function bundled as the stack bundles it (stacks/bundling.ts with SST's
 * esbuild options), then the source files in its entry module and the chunks that imports statically. Clients and
 * libraries few invocations need are behind `import()`, in chunks read on first use, and must stay there. Sizes and
 * import times are the bench's (`npm run bench`); this checks only where things are.
 */
const FIRST_USE_EVERYWHERE = [
  // Step Functions, Lambda (consumers), EventBridge Scheduler, Secrets Manager (with Powertools' provider), Bedrock.
  /node_modules\/@aws-sdk\/client-(sfn|lambda|scheduler|secrets-manager|bedrock-runtime)\//,
  /node_modules\/@aws-lambda-powertools\/parameters\//,
  // zod's whole namespace: every locale but the default one (`import { z }` anywhere brings them all).
  /node_modules\/zod\/v4\/locales\/(?!en\.js)/,
  // zod's JSON Schema reader (`z.fromJSONSchema`) and the string formats it brings: an action's params are checked
  // against its schema by packages/core/src/params-schema.ts (42 KB of the API's and the strategy agent's cold start).
  /node_modules\/zod\/v4\/classic\/from-json-schema\.js$/,
  // The X-Ray SDK and what it brings (semver, cls-hooked): tracing is packages/core/src/xray.ts, a few KB.
  /node_modules\/(aws-xray-sdk-core|@aws-lambda-powertools\/tracer|semver|cls-hooked)\//,
  // Powertools Logger (about 22 KB, and a console per child logger): records are written by packages/core/src/log.ts.
  /node_modules\/@aws-lambda-powertools\/logger\//,
  // The SDK's waiters (Nexus waits on nothing): a first-use client imported whole (`import("@aws-sdk/client-lambda")`)
  // keeps them, and they come in with the shared `@smithy/core/client` module every client imports. The clients
  // loaded on first use are imported through packages/core/src/sdk/, which names what Nexus calls.
  /node_modules\/@smithy\/core\/dist-es\/submodules\/client\/util-waiter\//,
];

/**
 * Anywhere, first-use chunks included: what only a client's whole module keeps (its aggregated client class with every
 * command, its paginators and waiters). Nexus imports each SDK through a module naming what it calls
 * (packages/core/src/sdk/), so a chunk read on first use holds that client and those commands.
 */
const WHOLE_CLIENT =
  /node_modules\/@aws-sdk\/client-[\w-]+\/dist-es\/((pagination|waiters)\/|(DynamoDB|SQS|SES|SESv2|S3|Lambda|SFN|Scheduler|SecretsManager|BedrockRuntime)\.js$)/;

const API = "functions/api.ts";

/** S3: only the research agent may hold it from the start (a render stores its screenshot, as its bare baseline's). */
const S3 = /node_modules\/@aws-sdk\/client-s3\//;

const FUNCTIONS: Record<string, { entry: string; firstUse: RegExp[] }> = {
  api: {
    entry: API,
    firstUse: [
      S3,
      // The OpenAPI document's writer.
      /node_modules\/(@hono\/zod-openapi|@asteasolutions\/zod-to-openapi)\//,
      // Routes few cold starts need (router.ts, `lazy`; app.ts, LAZY): every route but the tasks', the liveness
      // probe's and the dashboard's; and what only they use: schedules (with cron evaluation), alarms, backups, the
      // remote workers' protocol, agents' health, keys' management, the plans' creation and their runner.
      /packages\/api\/src\/routes\/(events|agents|plans|schedules|health|remote|failures|keys|audit|alarms|backup)\.ts$/,
      /packages\/core\/src\/health\//,
      /packages\/core\/src\/(schedules\/(schedules|expression|unix)|backup|alarms|remote)\.ts$/,
      /packages\/core\/src\/plans\/(plans|runner|validate|templates|recovery)\.ts$/,
      /node_modules\/croner\//,
      // The agents' spec modules (their zod schemas): the API's bundle carries their specs as JSON.
      /packages\/agents\/src\/(\w+\/spec|schema)\.ts$/,
      // The strategy agent's planner (goals only).
      /packages\/agents\/src\/strategy\/(handlers|rules|llm|providers)\.ts$/,
      // The dashboard (its files are embedded in its module) and the bundler that builds it from source.
      /packages\/dashboard\//,
      /node_modules\/esbuild\//,
    ],
  },
  diag: { entry: "functions/agents/diag.ts", firstUse: [S3] },
  comms: { entry: "functions/agents/comms.ts", firstUse: [S3] },
  ops: { entry: "functions/agents/ops.ts", firstUse: [S3] },
  research: {
    entry: "functions/agents/research.ts",
    firstUse: [
      /node_modules\/(puppeteer-core|@sparticuz\/chromium)\//,
      // The HTML parsers that read a fetched page (with the first HTML page).
      /node_modules\/(linkedom|@mozilla\/readability|htmlparser2|cssom\w*)\//,
    ],
  },
  strategy: { entry: "functions/agents/strategy.ts", firstUse: [S3] },
  // Posts alarms to chat (NEXUS_ALARM_CHAT): the chat secret, read on its first alarm.
  alarmChat: { entry: "functions/alarm-chat.ts", firstUse: [S3] },
};

/** What the functions read at import (contextFromEnv, the agents' settings); nothing touches the network then. */
const ENV = {
  NEXUS_TABLE: "bundling-test",
  NEXUS_QUEUE_PREFIX: "bundling-test-agent-",
  NEXUS_BUILTIN_QUEUES: JSON.stringify(
    Object.fromEntries(
      Object.keys(FUNCTIONS)
        .filter((name) => name !== "api" && name !== "alarmChat")
        .map((name) => [
          name,
          { url: `http://127.0.0.1:9/${name}`, arn: `arn:aws:sqs:us-east-1:1:${name}`, dlqUrl: "-", dlqArn: "-" },
        ]),
    ),
  ),
  AWS_REGION: "us-east-1",
  POWERTOOLS_LOG_LEVEL: "SILENT",
};

/** GET requests to a bundled API handler, as API Gateway sends them. */
async function bundledGet(file: string) {
  const { handler } = (await import(pathToFileURL(file).href)) as {
    handler: (event: APIGatewayProxyEventV2, context: LambdaContext) => Promise<APIGatewayProxyResultV2<never>>;
  };
  return async (path: string) => {
    const event = {
      version: "2.0",
      routeKey: "$default",
      rawPath: path,
      rawQueryString: "",
      headers: { host: "api.example.com" },
      requestContext: { domainName: "api.example.com", http: { method: "GET", path, sourceIp: "192.0.2.1" } },
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
    return handler(event, {} as LambdaContext) as Promise<{
      statusCode: number;
      body: string;
      headers: Record<string, string>;
    }>;
  };
}

describe("what a cold start loads", () => {
  const out = mkdtempSync(join(tmpdir(), "nexus-bundling-"));
  const saved = Object.keys(ENV).map((name) => [name, process.env[name]] as const);
  beforeAll(() => Object.assign(process.env, ENV));
  afterAll(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(out, { recursive: true, force: true });
  });

  it.each(Object.entries(FUNCTIONS))(
    "%s: clients and libraries few invocations need are loaded on first use, with only what is called of them",
    async (name, { entry, firstUse }) => {
      const { file, initialInputs, inputs } = await bundleAsStack(ROOT, entry, join(out, name));
      const patterns = [...FIRST_USE_EVERYWHERE, ...firstUse];
      expect(initialInputs.filter((input) => patterns.some((pattern) => pattern.test(input)))).toEqual([]);
      expect(inputs.filter((input) => WHOLE_CLIENT.test(input))).toEqual([]);
      // The chunks read on first use were looked at: the Secrets Manager client is in every function's.
      expect(
        inputs.filter((input) => input.endsWith("client-secrets-manager/dist-es/SecretsManagerClient.js")),
      ).toEqual([expect.any(String)]);
      // The handler's own code is there (the check above looked at the right files), and the bundle loads.
      expect(initialInputs).toContain(entry);
      expect(typeof (await import(pathToFileURL(file).href)).handler).toBe("function");
    },
    60_000,
  );

  it("api: the bundle carries the built-in agents' specs as their modules make them, read as registration reads them", async () => {
    const { builtinSpecs } = await import("../../packages/agents/src/specs.js");
    const { readBuiltinSpec } = await import("../../packages/core/src/agents.js");
    const { apiBundling } = await import("../../stacks/bundling.js");
    const text = JSON.parse(apiBundling().esbuild.define.__NEXUS_BUILTIN_SPECS__) as string;
    expect(JSON.parse(text)).toStrictEqual(JSON.parse(JSON.stringify(builtinSpecs.map(readBuiltinSpec))));
  });

  it("api: the bundle serves its OpenAPI document and docs page from the chunks they load", async () => {
    const { file } = await bundleAsStack(ROOT, API, join(out, "api-docs"));
    const get = await bundledGet(file);
    const document = await get("/openapi.json");
    expect(document.statusCode).toBe(200);
    expect(JSON.parse(document.body)).toMatchObject({ openapi: "3.1.0", paths: { "/v1/tasks": {} } });
    const docs = await get("/docs");
    expect(docs.statusCode).toBe(200);
    expect(docs.headers["content-security-policy"]).toContain("default-src 'none'");
    const swagger = /src="(\/assets\/swagger-ui-bundle-[\w-]+\.js)"/.exec(docs.body)?.[1];
    expect((await get(swagger as string)).body).toContain("SwaggerUIBundle");
  }, 60_000);

  it("api: the bundle serves the dashboard embedded in it, never the bundler", async () => {
    const { file, outputs } = await bundleAsStack(ROOT, API, join(out, "api-dashboard"));
    const get = await bundledGet(file);
    const page = await get("/");
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    const script = /src="(\/assets\/main-[A-Z0-9]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const asset = await get(script as string);
    expect(asset.statusCode).toBe(200);
    expect(asset.headers["cache-control"]).toContain("immutable");
    expect(asset.body).toContain("/v1/me");
    expect(outputs.some((output) => readFileSync(output, "utf8").includes("esbuild-wasm"))).toBe(false);
  }, 60_000);

  it("an agent's cold start leaves out the schemas only the API uses (tests/layering.test.ts: built by pure())", async () => {
    const apiOnly = [
      // ActionName (core's schemas.ts): registration's, which the API does and an agent does not.
      "must be snake_case: lower-case letters, digits and underscores",
      // ListTasksQuery: a schema whose fields are other schemas' calls (`AgentId.optional()`), which a pure mark on
      // its own expression could not leave out.
      "Only the tasks of this plan's steps",
    ];
    const held = async (name: string, entry: string) => {
      const { initial } = await bundleAsStack(ROOT, entry, join(out, `${name}-schemas`));
      const code = initial.map((file) => readFileSync(file, "utf8")).join("\n");
      return apiOnly.filter((text) => code.includes(text));
    };
    expect(await held("api", API)).toEqual(apiOnly);
    expect(await held("diag", "functions/agents/diag.ts")).toEqual([]);
  }, 60_000);
});
