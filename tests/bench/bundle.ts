/**
 * Bundles: each Nexus function against a bare handler with the same clients, bundled as the stack bundles them (SST
 * v2's esbuild options for an ESM function with the stack's `nodejs` props, stacks/bundling.ts), each then imported in
 * fresh node processes.
 *
 * With code splitting a function is an entry module plus chunks; what a cold start reads is the entry and the chunks
 * it imports statically (`initial`); chunks behind `import()` load on first use (`total` counts them too).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import type { FunctionProps } from "sst/constructs";
import { bundlingOf } from "../../stacks/bundling.js";
import { median } from "./stats.js";

const run = promisify(execFile);

export interface BundleFigures {
  /** What was bundled (a path in the repository). */
  entry: string;
  /** The entry module and the chunks it imports statically: what a cold start reads, parses and runs. */
  bytes: number;
  /** The same files, each gzipped (as the deployment zip compresses them one by one). */
  gzipBytes: number;
  /** Every output file, lazily loaded chunks included (source maps left out). */
  totalBytes: number;
  /** Output files of the bundle (the entry and its chunks). */
  files: number;
  importMs: number;
  importSamplesMs: number[];
  /** What the cold start's bytes are, largest first (esbuild's bytes in output, before the files' own overhead). */
  holds: Holding[];
}

/** A part of what a cold start loads: an npm package, or one of Nexus's own packages (`nexus:core`). */
export interface Holding {
  name: string;
  bytes: number;
  /** Source files of it in the cold start. */
  modules: number;
}

export interface BundlePair {
  /** The function: `api` or an agent's id. */
  name: string;
  /** What the bare handler holds, in words. */
  baselineClients: string;
  baseline: BundleFigures;
  nexus: BundleFigures;
  ratio: { bytes: number; gzip: number; importMs: number };
}

/** Each function of the stack measured here, and its bare counterpart (tests/bench/baselines/). */
const FUNCTIONS = [
  { name: "api", entry: "functions/api.ts", baseline: "api.ts", clients: "Hono + DynamoDB + SQS" },
  { name: "diag", entry: "functions/agents/diag.ts", baseline: "sqs.ts", clients: "DynamoDB + SQS" },
  { name: "comms", entry: "functions/agents/comms.ts", baseline: "comms.ts", clients: "DynamoDB + SQS + SES" },
  { name: "ops", entry: "functions/agents/ops.ts", baseline: "sqs.ts", clients: "DynamoDB + SQS" },
  {
    name: "research",
    entry: "functions/agents/research.ts",
    baseline: "research.ts",
    clients: "DynamoDB + SQS + S3; Chromium on first use",
  },
  {
    name: "strategy",
    entry: "functions/agents/strategy.ts",
    baseline: "strategy.ts",
    clients: "DynamoDB + SQS; Bedrock on first use",
  },
] as const;

type NodeJSProps = NonNullable<FunctionProps["nodejs"]>;
/** esbuild's options, as SST's esbuild types them. */
type BuildOptions = NonNullable<NodeJSProps["esbuild"]>;
/** What this bench reads of esbuild's metafile. */
interface Metafile {
  outputs: Record<
    string,
    {
      entryPoint?: string;
      imports: { path: string; kind: string; external?: boolean }[];
      inputs: Record<string, { bytesInOutput: number }>;
    }
  >;
}

/** The esbuild SST bundles with (its own dependency, older than the repository's). */
function sstEsbuild(root: string): { build(options: BuildOptions): Promise<{ metafile?: Metafile }> } {
  return createRequire(join(root, "node_modules", "sst", "package.json"))("esbuild");
}

/**
 * The esbuild options SST v2 derives for an ESM Node function from its `nodejs` props (sst/runtime/handlers/node.js,
 * `build`), for `sst deploy` (source maps on unless turned off).
 */
export function sstEsbuildOptions(nodejs: NodeJSProps, entry: string, outdir: string): BuildOptions {
  const { external = [], ...override } = nodejs.esbuild ?? {};
  if ((nodejs.format ?? "esm") !== "esm") throw new Error("the bench mirrors SST's ESM bundling only");
  const target = join(outdir, entry.replace(/^.*\//, "").replace(/\.ts$/, ".mjs"));
  return {
    entryPoints: [entry],
    platform: "node",
    external: ["sharp", "pg-native", ...(nodejs.install ?? []), ...external],
    loader: nodejs.loader,
    keepNames: true,
    bundle: true,
    logLevel: "silent",
    splitting: nodejs.splitting,
    metafile: true,
    outExtension: nodejs.splitting ? { ".js": ".mjs" } : undefined,
    format: "esm",
    target: "esnext",
    mainFields: ["module", "main"],
    banner: {
      js: [
        "import { createRequire as topLevelCreateRequire } from 'module';",
        "const require = topLevelCreateRequire(import.meta.url);",
        'import { fileURLToPath as topLevelFileUrlToPath, URL as topLevelURL } from "url"',
        'const __dirname = topLevelFileUrlToPath(new topLevelURL(".", import.meta.url))',
        nodejs.banner ?? "",
      ].join("\n"),
    },
    outfile: nodejs.splitting ? undefined : target,
    outdir: nodejs.splitting ? outdir : undefined,
    sourcemap: nodejs.sourcemap !== false,
    minify: nodejs.minify,
    write: true,
    ...override,
  };
}

/** A function bundled as the stack bundles it. */
export interface Bundled {
  /** The entry module (absolute path). */
  file: string;
  /** The entry module and the chunks it imports statically, transitively (absolute paths): what a cold start loads. */
  initial: string[];
  /** Every output file, source maps left out (absolute paths). */
  outputs: string[];
  /** The source files in `initial`, as esbuild names them (relative to the repository root). */
  initialInputs: string[];
  /** Bytes each of those source files takes in `initial`. */
  initialBytes: Record<string, number>;
  /** The source files in every output, chunks loaded on first use included. */
  inputs: string[];
}

/** Bundles `entry` (relative to `root`) into `outdir` as the stack does: stacks/bundling.ts, SST's esbuild options. */
export async function bundleAsStack(root: string, entry: string, outdir: string): Promise<Bundled> {
  const options = sstEsbuildOptions(bundlingOf(entry), entry, outdir);
  const { metafile } = await sstEsbuild(root).build({ ...options, absWorkingDir: root });
  if (!metafile) throw new Error("esbuild returned no metafile");
  const outputs = Object.keys(metafile.outputs).filter((file) => !file.endsWith(".map"));
  const main = outputs.find((file) => metafile.outputs[file]?.entryPoint === entry);
  if (!main) throw new Error(`esbuild wrote no module for ${entry}`);
  const initial = staticClosure(metafile, main);
  const initialBytes: Record<string, number> = {};
  for (const file of initial) {
    for (const [input, { bytesInOutput }] of Object.entries(metafile.outputs[file]?.inputs ?? {})) {
      initialBytes[input] = (initialBytes[input] ?? 0) + bytesInOutput;
    }
  }
  return {
    file: resolve(root, main),
    initial: initial.map((file) => resolve(root, file)),
    outputs: outputs.map((file) => resolve(root, file)),
    initialInputs: initial.flatMap((file) => Object.keys(metafile.outputs[file]?.inputs ?? {})),
    initialBytes,
    inputs: outputs.flatMap((file) => Object.keys(metafile.outputs[file]?.inputs ?? {})),
  };
}

/** Bytes of `files`, and their bytes each gzipped (as the deployment zip compresses them one by one). */
function sizes(files: string[]) {
  return files.reduce(
    (sum, file) => {
      const code = readFileSync(file);
      return { bytes: sum.bytes + code.length, gzipBytes: sum.gzipBytes + gzipSync(code, { level: 9 }).length };
    },
    { bytes: 0, gzipBytes: 0 },
  );
}

/** Bundles `entry` as the stack does; returns the entry module's path and the sizes of what it loads. */
async function bundle(root: string, entry: string, outdir: string) {
  const bundled = await bundleAsStack(root, entry, outdir);
  return {
    file: bundled.file,
    ...sizes(bundled.initial),
    totalBytes: sizes(bundled.outputs).bytes,
    files: bundled.outputs.length,
    holds: holdings(bundled.initialBytes),
  };
}

/** Source files' bytes grouped by npm package (`zod`, `@smithy/core`) or Nexus package (`nexus:core`), largest first. */
export function holdings(bytesByInput: Record<string, number>): Holding[] {
  const groups = new Map<string, Holding>();
  for (const [input, bytes] of Object.entries(bytesByInput)) {
    const name =
      /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(input)?.[1] ??
      /^packages\/([^/]+)\//.exec(input)?.[1]?.replace(/^/, "nexus:") ??
      input;
    const group = groups.get(name) ?? { name, bytes: 0, modules: 0 };
    group.bytes += bytes;
    group.modules += 1;
    groups.set(name, group);
  }
  return [...groups.values()].sort((a, b) => b.bytes - a.bytes);
}

/** The output file and every chunk it imports statically, transitively (not those behind `import()`). */
function staticClosure(metafile: Metafile, main: string): string[] {
  const seen = new Set<string>();
  const pending = [main];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const i of metafile.outputs[file]?.imports ?? []) {
      if (i.kind === "import-statement" && !i.external) pending.push(i.path);
    }
  }
  return [...seen];
}

/** Env the functions read at import (contextFromEnv, the agents' settings); nothing touches the network at import. */
const CHILD_ENV = {
  NEXUS_TABLE: "bench-table",
  NEXUS_QUEUE_PREFIX: "bench-agent-",
  NEXUS_BUILTIN_QUEUES: JSON.stringify(
    Object.fromEntries(
      FUNCTIONS.filter((f) => f.name !== "api").map(({ name }) => [
        name,
        { url: `http://localhost/${name}`, arn: `arn:aws:sqs:us-east-1:1:${name}`, dlqUrl: "-", dlqArn: "-" },
      ]),
    ),
  ),
  NEXUS_EMAIL_FROM: "Nexus <alerts@example.com>",
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: "bench",
  AWS_SECRET_ACCESS_KEY: "bench",
  POWERTOOLS_LOG_LEVEL: "ERROR",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
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

/** Bundles and imports each function and its baseline; `only` narrows to the named functions. */
export async function runBundles(
  root: string,
  outDir: string,
  samples: number,
  progress: (line: string) => void,
  only?: readonly string[],
): Promise<BundlePair[]> {
  const pairs: BundlePair[] = [];
  for (const fn of FUNCTIONS.filter(({ name }) => !only || only.includes(name))) {
    progress(`bundling ${fn.entry} and its bare baseline (${fn.clients})`);
    const baselineEntry = `tests/bench/baselines/${fn.baseline}`;
    const nexus = await bundle(root, fn.entry, join(outDir, fn.name, "nexus"));
    const base = await bundle(root, baselineEntry, join(outDir, fn.name, "baseline"));

    // One untimed import each (disk cache), then alternate so drift hits both alike.
    await importMs(base.file);
    await importMs(nexus.file);
    const baseSamples: number[] = [];
    const nexusSamples: number[] = [];
    for (let i = 0; i < samples; i++) {
      baseSamples.push(await importMs(base.file));
      nexusSamples.push(await importMs(nexus.file));
    }
    const figures = (entry: string, sizes: typeof nexus, ms: number[]): BundleFigures => ({
      entry,
      bytes: sizes.bytes,
      gzipBytes: sizes.gzipBytes,
      totalBytes: sizes.totalBytes,
      files: sizes.files,
      importMs: median(ms),
      importSamplesMs: ms,
      holds: sizes.holds,
    });
    const baseline = figures(baselineEntry, base, baseSamples);
    const measured = figures(fn.entry, nexus, nexusSamples);
    pairs.push({
      name: fn.name,
      baselineClients: fn.clients,
      baseline,
      nexus: measured,
      ratio: {
        bytes: measured.bytes / baseline.bytes,
        gzip: measured.gzipBytes / baseline.gzipBytes,
        importMs: measured.importMs / baseline.importMs,
      },
    });
  }
  return pairs;
}
