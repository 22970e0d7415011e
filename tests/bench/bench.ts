/**
 * `npm run bench`: Nexus against raw baselines, side by side, in one process.
 *
 * 1. Task throughput and submit-to-finish latency of `diag echo`: the full local path (HTTP API with an
 *    operator key → Tasks.submit → SQS → poller → Worker consumer, via startLocal) against the same emulators
 *    driven with only the SDK calls one task needs (PutItem, SendMessage, ReceiveMessage×10, UpdateItem,
 *    DeleteMessage): same N, same submitters in flight, same receive loops per queue. A second baseline makes the
 *    same calls behind a bare HTTP API (a Hono app on the same node server, POSTed to by the same client): what the
 *    HTTP hop alone costs. Order per round: baseline, HTTP baseline, full path, each on its own fresh emulators
 *    after an untimed warm-up. With --rounds R they alternate; each figure is the median over rounds, each ratio
 *    the median of the per-round ratios.
 *    Throughput = N / (first submit → last stored finishedAt). Also printed: process CPU per task and the
 *    SDK commands each task cost, by command and item kind.
 * 2. Bundles (bundle.ts): the API (functions/api.ts) and each built-in agent (functions/agents/*.ts), bundled as the
 *    stack bundles them (SST v2's esbuild options with stacks/bundling.ts: ESM, split, minified, SDK included),
 *    against a bare handler with the same clients (baselines/): bytes and gzip bytes of what a cold start loads
 *    (the entry and its static chunks), all chunks' bytes, and the median time to import each in a fresh node.
 * 3. Idle latency (latency.ts): one `diag echo` at a time on an idle runtime, submit → seen succeeded, against
 *    one message through the same SQS emulator.
 * 4. Plans (plans.ts): a 10-step chain and a 10-wide fan-out of `diag echo` through POST /v1/plans against
 *    the same 10 tasks via POST /v1/tasks (one after another / all at once) on the same local runtime:
 *    time per step, the ratio plan/direct, and state transitions per step (the Standard workflow cost driver).
 * 5. Listing (listing.ts): write units per task, table and indexes; GET /v1/tasks first pages with 1,000 and
 *    with 100,000 tasks stored (p50/p99 and the p50 ratio); the local table's disk per task against the item.
 * 6. Heap (heap.ts): every function the stack deploys (functions.ts), bundled as deployed, after a warm batch of its
 *    own work in a fresh process: heap and RSS (peak and after) against the configured memory.
 * 7. Cost (cost.ts): every AWS request, DynamoDB unit, SQS chunk, Lambda invocation and its time, state transition
 *    and log byte of simple tasks and of plan steps, priced at published on-demand prices, itemized; against the
 *    goal of $3 per million simple tasks, and next to the estimate the API shows on each task (`cost`).
 *
 * Options (`npm run bench -- --tasks 500`):
 *   --tasks N          tasks per phase (or BENCH_TASKS; default 2000)
 *   --warmup N         untimed tasks first, per phase (default min(200, N/10))
 *   --submitters N     client requests in flight (default 32)
 *   --rounds R         baseline/full pairs (default 1; 3 steadies the ratios on a busy machine)
 *   --plain-baseline   baseline task item without the product's index keys (default: same item shape)
 *   --split-cpu        each phase holds its consumers back while its tasks are submitted, then consumes them: prints
 *                      the CPU per task of submitting and of consuming apart (throughput and latencies of such a run
 *                      are not comparable with a normal run's)
 *   --phase P          baseline | http | full | all (default all); one alone is for profiling, e.g.
 *                      `node --cpu-prof --import tsx tests/bench/bench.ts --phase full --skip-bundle`
 *   --skip-throughput, --skip-bundle, --skip-latency, --skip-plans, --import-samples N (default 5)
 *   --bundles api,diag  only these functions' bundles (default: the API and every built-in agent)
 *   --latency-samples N  idle echo tasks timed one at a time (default 100)
 *   --skip-memory, --memory-burst N (default 2000), --memory-stored N (default 10000): memory.ts, RSS and disk of
 *                      `npm run dev` in a process of its own
 *   --plan-rounds R    plan rounds, each on a fresh runtime (default 3); --plan-steps N (default 10);
 *                      --plan-fanout-pairs P (fan-out pairs per round, default 3)
 *   --skip-listing, --listing-tasks A,B (stored task counts, default 1000,100000), --listing-samples N
 *                      (timed requests per listing and count, default 200), --unit-tasks N (default 200)
 *   --skip-heap, --heap-requests N (default 500): heap.ts, each function's memory after a warm batch (N API requests;
 *                      the other batches scale with N); --heap-renders N (render_page tasks with Chromium, default 3);
 *                      --heap-functions api,plans (only these; default every function the stack deploys)
 *   --skip-cost, --cost-tasks N (default 500), --cost-plans N (chain and fan-out plans each, default 2),
 *                      --cost-plan-steps N (default 10)
 *   --json             one JSON object on stdout instead of the tables
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BundlePair, type Holding, runBundles } from "./bundle.js";
import { costLines, runCostBench } from "./cost.js";
import { heapLines, runHeapBench } from "./heap.js";
import { latencyLines, runLatencyBench } from "./latency.js";
import { listingLines, runListingBench } from "./listing.js";
import { memoryLines, runMemoryBench } from "./memory.js";
import { planArgs, planLines, runPlanBench } from "./plans.js";
import { median, type ThroughputResult } from "./stats.js";
import { type PhaseResult, runBaseline, runFullPath, type ThroughputOptions } from "./throughput.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Batches in flight per queue in both phases (the full path's `concurrency`, over each agent's maxConcurrency). */
const LOCAL_CONSUMER_LOOPS = 4;

interface Args {
  tasks: number;
  warmup: number;
  submitters: number;
  rounds: number;
  plainBaseline: boolean;
  splitCpu: boolean;
  phases: { baseline: boolean; http: boolean; full: boolean };
  throughput: boolean;
  bundle: boolean;
  plans: boolean;
  latency: boolean;
  latencySamples: number;
  memory: boolean;
  memoryBurst: number;
  memoryStored: number;
  planRounds: number;
  planSteps: number;
  planFanOutPairs: number;
  json: boolean;
  importSamples: number;
  bundles?: string[];
  listing: boolean;
  listingTasks: number[];
  listingSamples: number;
  unitTasks: number;
  cost: boolean;
  heap: boolean;
  heapRequests: number;
  heapRenders: number;
  heapFunctions?: string[];
  costTasks: number;
  costPlans: number;
  costPlanSteps: number;
}

function phasesOf(raw: string | undefined): Args["phases"] {
  if (raw === undefined || raw === "all") return { baseline: true, http: true, full: true };
  if (raw === "baseline" || raw === "http" || raw === "full") {
    return { baseline: raw === "baseline", http: raw === "http", full: raw === "full" };
  }
  throw new Error(`--phase must be baseline, http, full or all (got ${raw})`);
}

function parseArgs(argv: string[]): Args {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i >= 0) return argv[i + 1];
    const inline = argv.find((a) => a.startsWith(`${name}=`));
    return inline?.slice(name.length + 1);
  };
  const int = (name: string, fallback: number, min = 1): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min} (got ${raw})`);
    return n;
  };
  const tasks = int("--tasks", Number(process.env.BENCH_TASKS ?? 2000));
  const plan = planArgs(argv);
  return {
    tasks,
    warmup: int("--warmup", Math.min(200, Math.ceil(tasks / 10)), 0),
    submitters: int("--submitters", 32),
    rounds: int("--rounds", 1),
    plainBaseline: argv.includes("--plain-baseline"),
    splitCpu: argv.includes("--split-cpu"),
    phases: phasesOf(value("--phase")),
    throughput: !argv.includes("--skip-throughput"),
    bundle: !argv.includes("--skip-bundle"),
    plans: !argv.includes("--skip-plans"),
    latency: !argv.includes("--skip-latency"),
    latencySamples: int("--latency-samples", 100),
    memory: !argv.includes("--skip-memory"),
    memoryBurst: int("--memory-burst", 2000),
    memoryStored: int("--memory-stored", 10_000),
    planRounds: plan.rounds,
    planSteps: plan.steps,
    planFanOutPairs: plan.fanOutPairs,
    json: argv.includes("--json"),
    importSamples: int("--import-samples", 5),
    listing: !argv.includes("--skip-listing"),
    listingTasks: (value("--listing-tasks") ?? "1000,100000").split(",").map((n) => {
      const count = Number(n);
      if (!Number.isInteger(count) || count < 1) throw new Error(`--listing-tasks takes counts ≥ 1 (got ${n})`);
      return count;
    }),
    listingSamples: int("--listing-samples", 200),
    unitTasks: int("--unit-tasks", 200),
    cost: !argv.includes("--skip-cost"),
    heap: !argv.includes("--skip-heap"),
    heapRequests: int("--heap-requests", 500),
    heapRenders: int("--heap-renders", 3, 0),
    ...(value("--heap-functions") ? { heapFunctions: value("--heap-functions")?.split(",") } : {}),
    costTasks: int("--cost-tasks", 500),
    costPlans: int("--cost-plans", 2),
    costPlanSteps: int("--cost-plan-steps", 10),
    ...(value("--bundles") ? { bundles: value("--bundles")?.split(",") } : {}),
  };
}

const progress = (args: Args, line: string) => {
  if (!args.json) process.stderr.write(`· ${line}\n`);
};

function medianPhase(results: PhaseResult[]): PhaseResult {
  const pick = (key: keyof ThroughputResult | "clientP50Ms" | "clientP99Ms" | "submitMs" | "cpuMsPerTask") =>
    median(results.map((r) => r[key]));
  return {
    tasks: pick("tasks"),
    wallMs: pick("wallMs"),
    tasksPerSecond: pick("tasksPerSecond"),
    p50Ms: pick("p50Ms"),
    p99Ms: pick("p99Ms"),
    clientP50Ms: pick("clientP50Ms"),
    clientP99Ms: pick("clientP99Ms"),
    submitMs: pick("submitMs"),
    cpuMsPerTask: pick("cpuMsPerTask"),
    submitCpuMsPerTask: results.some((r) => r.submitCpuMsPerTask === undefined)
      ? undefined
      : median(results.map((r) => r.submitCpuMsPerTask ?? 0)),
    notSucceeded: results.length > 0 ? results.reduce((sum, r) => sum + r.notSucceeded, 0) : Number.NaN,
    callsPerTask: results[results.length - 1]?.callsPerTask ?? {},
  };
}

function phaseRow(name: string, r: PhaseResult): string[] {
  return [
    name,
    num(r.tasksPerSecond),
    num(r.p50Ms),
    num(r.p99Ms),
    num(r.clientP50Ms),
    num(r.clientP99Ms),
    num(r.cpuMsPerTask, 1),
    num(r.notSucceeded),
  ];
}

/** With --split-cpu: each phase's CPU per task, submitting and consuming apart, and Nexus's over the HTTP baseline's. */
function splitLines(t: { baseline: PhaseResult; http: PhaseResult; full: PhaseResult }): string[] {
  const parts = (r: PhaseResult) =>
    r.submitCpuMsPerTask === undefined
      ? undefined
      : { submit: r.submitCpuMsPerTask, consume: r.cpuMsPerTask - r.submitCpuMsPerTask };
  const [baseline, http, full] = [parts(t.baseline), parts(t.http), parts(t.full)];
  if (!full) return [];
  const pair = (p: { submit: number; consume: number } | undefined) =>
    p ? `${num(p.submit, 1)} | ${num(p.consume, 1)}` : "- | -";
  return [
    `  CPU ms per task, submitting | consuming (--split-cpu: consumers held back during the submissions, so the`,
    `  throughput and latencies above are not comparable with a normal run's): baseline ${pair(baseline)},`,
    `  HTTP ${pair(http)}, nexus ${pair(full)}${http ? `; nexus/HTTP ${ratio(full.submit / http.submit)} | ${ratio(full.consume / http.consume)}` : ""}`,
  ];
}

/** "Update 2 · Put 1 · …" */
const callsLine = (calls: Record<string, number>) =>
  Object.entries(calls)
    .filter(([name]) => name !== "total")
    .map(([name, n]) => `${name} ${n}`)
    .join(" · ");

async function throughput(args: Args) {
  const options: ThroughputOptions = {
    tasks: args.tasks,
    warmup: args.warmup,
    submitters: args.submitters,
    consumers: LOCAL_CONSUMER_LOOPS,
    splitCpu: args.splitCpu,
  };
  const baselineRuns: PhaseResult[] = [];
  const httpRuns: PhaseResult[] = [];
  const fullRuns: PhaseResult[] = [];
  for (let round = 1; round <= args.rounds; round++) {
    if (args.phases.baseline) {
      progress(args, `round ${round}/${args.rounds}: raw SDK baseline, ${args.tasks} tasks`);
      baselineRuns.push(await runBaseline({ ...options, plain: args.plainBaseline }));
    }
    if (args.phases.http) {
      progress(args, `round ${round}/${args.rounds}: raw SDK behind a bare HTTP API, ${args.tasks} tasks`);
      httpRuns.push(await runBaseline({ ...options, plain: args.plainBaseline, http: true }));
    }
    if (args.phases.full) {
      progress(args, `round ${round}/${args.rounds}: nexus full path, ${args.tasks} tasks`);
      fullRuns.push(await runFullPath(options));
    }
  }
  const baseline = medianPhase(baselineRuns);
  const http = medianPhase(httpRuns);
  const full = medianPhase(fullRuns);
  return {
    config: {
      tasks: args.tasks,
      warmup: args.warmup,
      submitters: args.submitters,
      consumerLoops: LOCAL_CONSUMER_LOOPS,
      receiveBatch: 10,
      rounds: args.rounds,
      order: "baseline, bare HTTP API, then full path, per round",
      baselineItem: args.plainBaseline ? "plain (key + status + times)" : "product shape (same 4 task indexes)",
    },
    baseline,
    http,
    full,
    rounds: { baseline: baselineRuns, http: httpRuns, full: fullRuns },
    // Each round pairs a baseline run with the full-path run right after it; ratios are the median of the
    // per-round ratios (with one round, simply the ratio).
    ratio: throughputRatios(fullRuns, baselineRuns),
    // The same, against the baseline behind a bare HTTP API: what Nexus adds besides the HTTP hop itself.
    ratioToHttp: throughputRatios(fullRuns, httpRuns),
  };
}

/** The full path's figures over a baseline's, each the median of the per-round ratios. */
function throughputRatios(full: PhaseResult[], baseline: PhaseResult[]) {
  return {
    throughput: pairedRatio(full, baseline, "tasksPerSecond"),
    p50: pairedRatio(full, baseline, "p50Ms"),
    p99: pairedRatio(full, baseline, "p99Ms"),
    clientP50: pairedRatio(full, baseline, "clientP50Ms"),
    clientP99: pairedRatio(full, baseline, "clientP99Ms"),
    cpuPerTask: pairedRatio(full, baseline, "cpuMsPerTask"),
  };
}

type Ratios = ReturnType<typeof throughputRatios>;

function ratioRow(name: string, r: Ratios): string[] {
  return [
    name,
    ratio(r.throughput),
    ratio(r.p50),
    ratio(r.p99),
    ratio(r.clientP50),
    ratio(r.clientP99),
    ratio(r.cpuPerTask),
    "",
  ];
}

function pairedRatio(
  full: PhaseResult[],
  baseline: PhaseResult[],
  key: "tasksPerSecond" | "p50Ms" | "p99Ms" | "clientP50Ms" | "clientP99Ms" | "cpuMsPerTask",
): number {
  const ratios = full.flatMap((f, i) => {
    const b = baseline[i];
    return b ? [f[key] / b[key]] : [];
  });
  return median(ratios);
}

async function bundles(args: Args): Promise<BundlePair[]> {
  const outDir = mkdtempSync(join(tmpdir(), "nexus-bench-"));
  try {
    return await runBundles(ROOT, outDir, args.importSamples, (line) => progress(args, line), args.bundles);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

/** Throughput goals of the full path against the raw-SDK baseline (same run): tasks a second, CPU per task. */
const THROUGHPUT_GOALS = { throughput: 0.8, cpu: 1.3 };
const goalMet = (ratio: number, met: (r: number) => boolean) =>
  Number.isFinite(ratio) ? (met(ratio) ? "met" : "NOT met") : "n/a";

/** Cold-start goals of the API against its bare baseline (issue 12): bytes loaded at import and import time. */
const API_GOALS = { bytes: 1.5, importMs: 1.3 };

function bundleLines(pairs: BundlePair[], samples: number): string[] {
  const kb = (n: number) => num(n / 1024);
  const rows = pairs.flatMap((p) => [
    [
      `${p.name}: bare`,
      kb(p.baseline.bytes),
      kb(p.baseline.gzipBytes),
      num(p.baseline.importMs, 1),
      kb(p.baseline.totalBytes),
      num(p.baseline.files),
    ],
    [
      `${p.name}: nexus`,
      kb(p.nexus.bytes),
      kb(p.nexus.gzipBytes),
      num(p.nexus.importMs, 1),
      kb(p.nexus.totalBytes),
      num(p.nexus.files),
    ],
    [`${p.name}: ratio`, ratio(p.ratio.bytes), ratio(p.ratio.gzip), ratio(p.ratio.importMs), "", ""],
  ]);
  const api = pairs.find((p) => p.name === "api");
  const goal = (value: number, max: number) =>
    `${ratio(value)} ≤ ${max.toFixed(2)}x ${value <= max ? "met" : "NOT met"}`;
  return [
    table([["bundle", "KB at import", "gzip KB", "import ms", "KB in all", "files"], ...rows], [18, 14, 10, 11, 11, 7]),
    "  bundled as the stack bundles (stacks/bundling.ts: esm, esnext, split, minified, sdk included); KB at import = the",
    "  entry and the chunks it imports statically, KB in all = every chunk; import = median of",
    `  ${samples} fresh node processes, bare and nexus alternating`,
    ...pairs.map(
      (p) => `  ${p.name}: bare = ${p.baselineClients} (tests/bench/baselines/${p.baseline.entry.split("/").pop()})`,
    ),
    "  what each cold start holds, largest first (KB of the bundle's code, by npm package or Nexus package):",
    ...pairs.map((p) => `  ${p.name}: ${holdsLine(p.nexus.holds)}`),
    ...(api
      ? [
          `  API goals: KB at import ${goal(api.ratio.bytes, API_GOALS.bytes)}; import ${goal(api.ratio.importMs, API_GOALS.importMs)}`,
        ]
      : []),
  ];
}

/** The largest parts of a cold start, then the rest together. */
function holdsLine(holds: Holding[], shown = 9): string {
  const kb = (bytes: number) => num(bytes / 1024);
  const rest = holds.slice(shown);
  const restBytes = rest.reduce((sum, h) => sum + h.bytes, 0);
  return [
    ...holds
      .slice(0, shown)
      .map(
        (h) =>
          `${h.name} ${kb(h.bytes)}${h.name.startsWith("nexus:") ? ` (${h.modules} module${h.modules === 1 ? "" : "s"})` : ""}`,
      ),
    ...(rest.length > 0 ? [`${rest.length} more ${kb(restBytes)}`] : []),
  ].join(", ");
}

const num = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "-";
const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : "-");

function table(rows: string[][], widths: number[]): string {
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join("")
        .trimEnd(),
    )
    .join("\n");
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const out: Record<string, unknown> = { node: process.version, cpus: (await import("node:os")).cpus().length };
  const lines: string[] = [];

  if (args.throughput) {
    const t = await throughput(args);
    out.throughput = t;
    lines.push(
      `tasks: ${args.tasks} (warm-up ${args.warmup}, ${args.submitters} in flight, ${LOCAL_CONSUMER_LOOPS} receive loops x 10, ${t.config.order}${args.rounds > 1 ? `, median of ${args.rounds}` : ""})`,
      table(
        [
          ["", "tasks/s", "p50 ms", "p99 ms", "post p50", "post p99", "cpu ms/task", "failed"],
          phaseRow("raw SDK baseline", t.baseline),
          phaseRow("raw SDK behind HTTP", t.http),
          phaseRow("nexus (full path)", t.full),
          ratioRow("ratio nexus/baseline", t.ratio),
          ratioRow("ratio nexus/HTTP", t.ratioToHttp),
        ],
        [22, 9, 9, 9, 10, 10, 13, 8],
      ),
      "  p50/p99: finishedAt - createdAt as stored on the task; post p50/p99: from the client's send of the POST",
      "  (the baseline stamps createdAt right before its PutItem, so its two agree)",
      "  raw SDK behind HTTP: the baseline's submit behind a bare Hono app on the same node server, POSTed to by the",
      "  same client: the HTTP hop every submit of the product pays, with no product code",
      `  SDK calls per task: baseline ${t.baseline.callsPerTask.total ?? "-"} (${callsLine(t.baseline.callsPerTask)})`,
      `                      nexus    ${t.full.callsPerTask.total ?? "-"} (${callsLine(t.full.callsPerTask)})`,
      ...splitLines(t),
      `  goals: throughput nexus/baseline >= ${THROUGHPUT_GOALS.throughput.toFixed(2)}x: ${goalMet(t.ratio.throughput, (r) => r >= THROUGHPUT_GOALS.throughput)}; CPU per task <= ${THROUGHPUT_GOALS.cpu.toFixed(2)}x: ${goalMet(t.ratio.cpuPerTask, (r) => r <= THROUGHPUT_GOALS.cpu)}`,
      "",
    );
  }

  if (args.bundle) {
    const b = await bundles(args);
    out.bundle = b;
    lines.push(...bundleLines(b, args.importSamples), "");
  }

  if (args.latency) {
    progress(args, `idle latency: ${args.latencySamples} echo tasks, one at a time`);
    const l = await runLatencyBench(args.latencySamples);
    out.latency = l;
    lines.push("", ...latencyLines(l));
  }

  if (args.memory) {
    progress(
      args,
      `memory: npm run dev in its own process, ${args.memoryBurst}-task burst, ${args.memoryStored} more stored`,
    );
    const dataDir = mkdtempSync(join(tmpdir(), "nexus-bench-memory-"));
    try {
      const m = await runMemoryBench({ dataDir, burst: args.memoryBurst, stored: args.memoryStored });
      out.memory = m;
      lines.push("", ...memoryLines(m));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  if (args.plans) {
    const p = await runPlanBench({
      rounds: args.planRounds,
      steps: args.planSteps,
      fanOutPairs: args.planFanOutPairs,
      progress: (line) => progress(args, line),
    });
    out.plans = p;
    lines.push("", ...planLines(p));
  }

  if (args.listing) {
    const l = await runListingBench({
      sizes: args.listingTasks,
      samples: args.listingSamples,
      unitTasks: args.unitTasks,
      progress: (line) => progress(args, line),
    });
    out.listing = l;
    lines.push("", ...listingLines(l));
  }

  if (args.heap) {
    const h = await runHeapBench(
      ROOT,
      {
        requests: args.heapRequests,
        renders: args.heapRenders,
        ...(args.heapFunctions ? { only: args.heapFunctions } : {}),
      },
      (line) => progress(args, line),
    );
    out.heap = h;
    lines.push("", ...heapLines(h));
  }

  if (args.cost) {
    const c = await runCostBench({
      tasks: args.costTasks,
      plans: args.costPlans,
      planSteps: args.costPlanSteps,
      progress: (line) => progress(args, line),
    });
    out.cost = c;
    lines.push("", ...costLines(c));
  }

  process.stdout.write(args.json ? `${JSON.stringify(out)}\n` : `${lines.join("\n")}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
