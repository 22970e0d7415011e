/**
 * Heap phase of `npm run bench` (`--skip-heap`): each Lambda handler's memory after a warm batch, against the memory
 * the stack configures (goal: 2x headroom, RSS at most half of it).
 *
 * The API (functions/api.ts) and the diag agent (functions/agents/diag.ts) are bundled as the stack bundles them
 * (bundle.ts, stacks/bundling.ts) and each run in a fresh `node --expose-gc` process with the environment the stack
 * gives it, against emulators in this process: the API handles `--heap-requests` POST /v1/tasks as API Gateway v2
 * events (then the agent's queue holds their messages), the agent the same tasks as SQS events of 10 records, as
 * its event source mapping delivers them. Printed: heap used and RSS after import, and after the batch and a full GC.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { FUNCTIONS } from "@nexus/core";
import { startTestContext } from "../support/context.js";
import { apiGatewayEvent, sqsRecordFactory } from "../support/events.js";
import { bundleAsStack } from "./bundle.js";

const run = promisify(execFile);

export interface HeapFigures {
  name: string;
  memoryMb: number;
  invocations: number;
  importHeapMb: number;
  importRssMb: number;
  heapMb: number;
  rssMb: number;
}

const ADMIN = "bench-heap-admin-key-0123456789-0123456789";

/** Runs in the child: imports the handler, invokes it with each event in the file, collects garbage, prints memory. */
const CHILD = `
import { readFileSync } from "node:fs";
const mb = (n) => n / 1024 / 1024;
const [file, eventsFile] = process.argv.slice(2);
const { handler } = await import(file);
global.gc();
const afterImport = process.memoryUsage();
const events = JSON.parse(readFileSync(eventsFile, "utf8"));
const context = (i) => ({ functionName: "bench", awsRequestId: "req-" + i, getRemainingTimeInMillis: () => 60000 });
let i = 0;
for (const event of events) {
  const out = await handler(event, context(i++));
  if (out && out.statusCode >= 300) throw new Error("handler answered " + out.statusCode + ": " + out.body);
  if (out && out.batchItemFailures && out.batchItemFailures.length) throw new Error("batch item failures");
}
global.gc();
const after = process.memoryUsage();
process.stdout.write(JSON.stringify({
  importHeapMb: mb(afterImport.heapUsed), importRssMb: mb(afterImport.rss), heapMb: mb(after.heapUsed), rssMb: mb(after.rss),
}));
`;

const apiEvent = (i: number) =>
  apiGatewayEvent("POST", "/v1/tasks", { agentId: "diag", action: "echo", params: { i } }, ADMIN);

export async function runHeapBench(root: string, requests: number, progress: (line: string) => void) {
  const env = await startTestContext({ prefix: "bench-heap-agent-", secrets: { "bench/admin-key": ADMIN } });
  const dir = mkdtempSync(join(tmpdir(), "nexus-bench-heap-"));
  try {
    const diag = await env.addBuiltinQueue("diag");
    const childEnv = {
      ...process.env,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "bench",
      AWS_SECRET_ACCESS_KEY: "bench",
      AWS_ENDPOINT_URL_DYNAMODB: env.endpoints.dynamodb,
      AWS_ENDPOINT_URL_SQS: env.endpoints.sqs,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: env.endpoints.secretsManager,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      NEXUS_ADMIN_KEY_SECRET: "bench/admin-key",
      NEXUS_TABLE: env.ctx.tableName,
      NEXUS_QUEUE_PREFIX: env.ctx.queuePrefix,
      NEXUS_BUILTIN_QUEUES: JSON.stringify({ diag }),
      NEXUS_AGENT_ID: "diag",
      NEXUS_RATE_LIMIT_PER_MINUTE: "100000",
      POWERTOOLS_LOG_LEVEL: "ERROR",
    };
    const measure = async (name: string, entry: string, events: unknown[]): Promise<HeapFigures> => {
      progress(`heap: ${name}, bundled as the stack bundles it, ${events.length} invocations in a fresh process`);
      const bundled = await bundleAsStack(root, entry, join(dir, name));
      const eventsFile = join(dir, `${name}-events.json`);
      writeFileSync(eventsFile, JSON.stringify(events));
      const script = join(dir, "child.mjs");
      writeFileSync(script, CHILD);
      const { stdout } = await run(
        process.execPath,
        ["--expose-gc", script, pathToFileURL(bundled.file).href, eventsFile],
        { env: childEnv, maxBuffer: 1 << 20 },
      );
      const memoryMb = name === "api" ? FUNCTIONS.api.memoryMb : FUNCTIONS.agent.memoryMb;
      return { name, memoryMb, invocations: events.length, ...JSON.parse(stdout) };
    };
    const api = await measure(
      "api",
      "functions/api.ts",
      Array.from({ length: requests }, (_, i) => apiEvent(i)),
    );
    // The tasks' messages, as the event source mapping would deliver them: batches of 10.
    const bodies: string[] = [];
    while (bodies.length < requests) {
      const out = await env.ctx.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: diag.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      if (!out.Messages?.length) break;
      bodies.push(...out.Messages.map((m) => m.Body ?? ""));
    }
    const batches = [];
    for (let i = 0; i < bodies.length; i += 10) {
      batches.push({ Records: bodies.slice(i, i + 10).map((body) => sqsRecordFactory(body)) });
    }
    const agent = await measure("diag", "functions/agents/diag.ts", batches);
    return [api, agent];
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await env.stop();
  }
}

const fixed = (n: number) => n.toFixed(0);

export function heapLines(figures: HeapFigures[]): string[] {
  return [
    "Lambda handlers' memory after a warm batch (bundled as deployed, fresh node --expose-gc, after a full GC), MB:",
    ...figures.map(
      (f) =>
        `  ${f.name.padEnd(5)} ${f.invocations} invocations: heap ${fixed(f.importHeapMb)} at import → ${fixed(f.heapMb)}; RSS ${fixed(f.importRssMb)} → ${fixed(f.rssMb)} of ${f.memoryMb} configured (${(f.memoryMb / f.rssMb).toFixed(1)}x headroom; goal 2x: ${f.rssMb * 2 <= f.memoryMb ? "met" : "NOT met"})`,
    ),
  ];
}
