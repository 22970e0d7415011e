import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { type BuildOptions, build } from "esbuild";
import { median } from "./stats.js";

const run = promisify(execFile);

export interface BundleFigures {
  /** What was bundled: `functions/api.ts`, or the stand-in entry when that file is not the real handler yet. */
  entry: string;
  bytes: number;
  gzipBytes: number;
  importMs: number;
  importSamplesMs: number[];
}

export interface BundleResult {
  baseline: BundleFigures;
  api: BundleFigures;
}

/** Stand-in for functions/api.ts while it is still a placeholder: the same wiring a Lambda entry needs. */
const API_STAND_IN = `
import { Logger } from "@aws-lambda-powertools/logger";
import { builtinSpecs } from "@nexus/agents/specs";
import { createApp } from "@nexus/api";
import { contextFromEnv } from "@nexus/core";
import { handle } from "hono/aws-lambda";

const logger = new Logger({ serviceName: "nexus-api" });
export const handler = handle(createApp({ ctx: contextFromEnv(), logger, builtinSpecs }));
`;

/** Bare Hono on Lambda plus the same SDK clients, each instantiated. */
const BASELINE = `
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { Hono } from "hono";
import { handle } from "hono/aws-lambda";

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
const app = new Hono();
app.get("/v1/health", (c) => c.json({ status: "ok", clients: [typeof ddb.send, typeof sqs.send] }));
export const handler = handle(app);
`;

/** The esbuild options SST v2 uses for an ESM Node function (sst/runtime/handlers/node.js), minified. */
function sstLike(outfile: string): BuildOptions {
  return {
    platform: "node",
    format: "esm",
    target: "node20",
    bundle: true,
    minify: true,
    keepNames: true,
    mainFields: ["module", "main"],
    external: ["sharp", "pg-native"],
    banner: {
      js: [
        "import { createRequire as topLevelCreateRequire } from 'module';",
        "const require = topLevelCreateRequire(import.meta.url);",
        'import { fileURLToPath as topLevelFileUrlToPath, URL as topLevelURL } from "url"',
        'const __dirname = topLevelFileUrlToPath(new topLevelURL(".", import.meta.url))',
      ].join("\n"),
    },
    outfile,
    logLevel: "silent",
    write: true,
  };
}

/** functions/api.ts counts as the real handler once it wires the API (not the synth placeholder). */
function realApiEntry(root: string): string | undefined {
  const file = join(root, "functions", "api.ts");
  if (!existsSync(file)) return undefined;
  const source = readFileSync(file, "utf8");
  return /@nexus\/api|createApp/.test(source) ? file : undefined;
}

async function bundle(root: string, outfile: string, entry: { file?: string; source?: string }) {
  const options = sstLike(outfile);
  if (entry.file) options.entryPoints = [entry.file];
  else options.stdin = { contents: entry.source ?? "", resolveDir: root, loader: "ts", sourcefile: "entry.ts" };
  await build(options);
  const code = readFileSync(outfile);
  return { bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length };
}

/** Env the API reads at import (contextFromEnv); nothing touches the network at import. */
const CHILD_ENV = {
  NEXUS_TABLE: "bench-table",
  NEXUS_QUEUE_PREFIX: "bench-agent-",
  NEXUS_BUILTIN_QUEUES: "{}",
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: "bench",
  POWERTOOLS_LOG_LEVEL: "ERROR",
};

const IMPORT_SCRIPT =
  "const t = performance.now(); await import(process.env.BENCH_IMPORT_URL); process.stdout.write(String(performance.now() - t));";

async function importMs(file: string): Promise<number> {
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", IMPORT_SCRIPT], {
    env: { ...process.env, ...CHILD_ENV, BENCH_IMPORT_URL: pathToFileURL(file).href },
  });
  const ms = Number(stdout.trim());
  if (!Number.isFinite(ms)) throw new Error(`import of ${file} printed ${JSON.stringify(stdout)}`);
  return ms;
}

export async function runBundles(root: string, outDir: string, samples: number): Promise<BundleResult> {
  const apiFile = realApiEntry(root);
  const apiOut = join(outDir, "api.mjs");
  const baseOut = join(outDir, "baseline.mjs");
  const api = await bundle(root, apiOut, apiFile ? { file: apiFile } : { source: API_STAND_IN });
  const base = await bundle(root, baseOut, { source: BASELINE });

  // One untimed import each (disk cache), then alternate so drift hits both alike.
  await importMs(baseOut);
  await importMs(apiOut);
  const apiSamples: number[] = [];
  const baseSamples: number[] = [];
  for (let i = 0; i < samples; i++) {
    baseSamples.push(await importMs(baseOut));
    apiSamples.push(await importMs(apiOut));
  }
  return {
    baseline: {
      entry: "bare hono + sdk clients",
      ...base,
      importMs: median(baseSamples),
      importSamplesMs: baseSamples,
    },
    api: {
      entry: apiFile ? "functions/api.ts" : "stand-in for functions/api.ts (placeholder found)",
      ...api,
      importMs: median(apiSamples),
      importSamplesMs: apiSamples,
    },
  };
}
