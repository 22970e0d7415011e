/**
 * Plan figures for `npm run bench`: what running `diag echo` tasks as a plan costs against submitting the
 * same tasks directly, on the same local runtime, in the same run.
 *
 * Per round, on a fresh runtime (startLocal, port 0, quiet, rate limit out of the way) after an untimed
 * warm-up (one task, one 2-step plan):
 *   - chain:    a plan of STEPS steps, each depending on the previous one, against its baseline: the same
 *               STEPS tasks via POST /v1/tasks one after another, each submitted once the previous one is
 *               seen succeeded;
 *   - fan-out:  a plan of STEPS independent steps (no start or join step: exactly the same tasks as its
 *               baseline), against the same STEPS tasks submitted all at once.
 * Plans are timed from the POST /v1/plans to the GET /v1/plans/{id} that shows `succeeded`; tasks from the
 * first POST /v1/tasks to the GET that shows the last one `succeeded`. Both poll every POLL_MS. The order
 * (direct first or plan first) alternates from pair to pair; each figure is the median over pairs, each ratio
 * the median of the per-pair ratios. A round measures one chain pair and `fanOutPairs` fan-out pairs (a
 * fan-out is one queue hop, so a single sample is mostly where it fell in the local poller's 1 s receive).
 *
 * Also: state transitions per step, counted by the local Step Functions endpoint (states entered, nested
 * Map iterations included) once the execution has settled. Standard workflows bill per transition.
 *
 * Alone: `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true npx tsx tests/bench/plans.ts [--plan-rounds R]
 * [--plan-steps N] [--plan-fanout-pairs P] [--json]`.
 */
import { pathToFileURL } from "node:url";
import { type LocalNexus, startLocal } from "@nexus/local";
import { median, sleep } from "./stats.js";

/** Step Functions Standard workflows, per state transition (us-east-1; most regions). */
export const USD_PER_1000_TRANSITIONS = 0.025;
const POLL_MS = 50;
const TIMEOUT_MS = 60_000;

export interface PlanBenchOptions {
  /** Rounds, each on a fresh runtime (default 3). */
  rounds: number;
  /** Steps per plan, tasks per baseline (default 10). */
  steps: number;
  /** Fan-out pairs per round (default 3). */
  fanOutPairs?: number;
  /** Progress lines (stderr). */
  progress?: (line: string) => void;
}

/** One shape (chain or fan-out) in one round. */
export interface ShapeRun {
  /** Submit → seen succeeded, ms. */
  planMs: number;
  directMs: number;
  /** As stored: plan createdAt → finishedAt; direct: first task createdAt → last task finishedAt. */
  planStoredMs: number;
  directStoredMs: number;
  /** States entered by the plan's execution. */
  transitions: number;
}

export interface ShapeResult {
  steps: number;
  planMs: number;
  directMs: number;
  planMsPerStep: number;
  directMsPerStep: number;
  /** Median of the per-round plan/direct ratios. */
  ratio: number;
  /** The same on the stored timestamps (no polling granularity). */
  storedRatio: number;
  transitionsPerStep: number;
  /** transitionsPerStep × $0.025 / 1,000 × 1,000 steps. */
  usdPer1000Steps: number;
  /** Every pair measured. */
  pairs: ShapeRun[];
}

export interface PlanBenchResult {
  config: { rounds: number; steps: number; fanOutPairs: number; pollMs: number; fanOut: string; order: string };
  chain: ShapeResult;
  fanOut: ShapeResult;
}

interface Api {
  base: string;
  authorization: string;
}

async function call<T>(api: Api, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${api.base}${path}`, {
    method,
    headers: {
      authorization: api.authorization,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 300)}`);
  return { status: res.status, body: JSON.parse(text) as T };
}

interface TaskView {
  id: string;
  status: string;
  createdAt: string;
  finishedAt: string | null;
}
interface PlanView {
  id: string;
  status: string;
  executionArn: string | null;
  createdAt: string;
  finishedAt: string | null;
}

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** Polls `path` every POLL_MS until its status is finished; throws unless it is `succeeded`. */
async function waitSucceeded<T extends { status: string }>(api: Api, path: string): Promise<T> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const { body } = await call<T>(api, "GET", path);
    if (FINISHED.has(body.status)) {
      if (body.status !== "succeeded") throw new Error(`${path} ended ${body.status}: ${JSON.stringify(body)}`);
      return body;
    }
    if (Date.now() > deadline) throw new Error(`${path} not finished after ${TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

const echo = (round: number, shape: string, i: number) => ({ round, shape, i });

function planSteps(shape: "chain" | "fanout", n: number, round: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: `s${i}`,
    agentId: "diag",
    action: "echo",
    params: echo(round, shape, i),
    ...(shape === "chain" && i > 0 ? { dependsOn: [`s${i - 1}`] } : {}),
  }));
}

const submitTask = async (api: Api, params: unknown) =>
  (await call<TaskView>(api, "POST", "/v1/tasks", { agentId: "diag", action: "echo", params })).body.id;

/** The plan from its POST until it shows `succeeded`; then its transitions once the execution has settled. */
async function timePlan(nexus: LocalNexus, api: Api, shape: "chain" | "fanout", n: number, round: number) {
  const started = performance.now();
  const created = await call<PlanView>(api, "POST", "/v1/plans", {
    name: `bench-${shape}-${round}`,
    steps: planSteps(shape, n, round),
  });
  const plan = await waitSucceeded<PlanView>(api, `/v1/plans/${created.body.id}`);
  const ms = performance.now() - started;
  if (!plan.executionArn) throw new Error(`plan ${plan.id} has no execution`);
  await nexus.stepFunctions.settled(plan.executionArn);
  return {
    ms,
    storedMs: Date.parse(plan.finishedAt ?? "") - Date.parse(plan.createdAt),
    transitions: nexus.stepFunctions.transitions(plan.executionArn) ?? Number.NaN,
  };
}

const storedSpan = (tasks: TaskView[]) =>
  Math.max(...tasks.map((t) => Date.parse(t.finishedAt ?? ""))) -
  Math.min(...tasks.map((t) => Date.parse(t.createdAt)));

/** The chain's baseline: each task submitted once the previous one is seen succeeded. */
async function timeSequential(api: Api, n: number, round: number) {
  const started = performance.now();
  const done: TaskView[] = [];
  for (let i = 0; i < n; i++) {
    const id = await submitTask(api, echo(round, "sequential", i));
    done.push(await waitSucceeded<TaskView>(api, `/v1/tasks/${id}`));
  }
  return { ms: performance.now() - started, storedMs: storedSpan(done) };
}

/** The fan-out's baseline: all tasks submitted at once, then each polled until succeeded. */
async function timeParallel(api: Api, n: number, round: number) {
  const started = performance.now();
  const ids = await Promise.all(Array.from({ length: n }, (_, i) => submitTask(api, echo(round, "parallel", i))));
  const done = await Promise.all(ids.map((id) => waitSucceeded<TaskView>(api, `/v1/tasks/${id}`)));
  return { ms: performance.now() - started, storedMs: storedSpan(done) };
}

async function runRound(round: number, options: PlanBenchOptions): Promise<{ chain: ShapeRun; fanOut: ShapeRun[] }> {
  const nexus = await startLocal({ port: 0, logLevel: "SILENT", settings: { rateLimitPerMinute: 1_000_000 } });
  try {
    const api: Api = { base: nexus.url, authorization: `Bearer ${nexus.adminKey}` };
    // Untimed warm-up: both paths once (JIT, sockets, the agent registry cache, the state machine).
    await timeSequential(api, 1, -round);
    await timePlan(nexus, api, "chain", 2, -round);

    const n = options.steps;
    let pairs = round - 1; // odd rounds start direct-first, even ones plan-first; then it alternates
    const pair = async <P, D>(plan: () => Promise<P>, direct: () => Promise<D>): Promise<[P, D]> => {
      if (pairs++ % 2 === 1) {
        const p = await plan();
        return [p, await direct()];
      }
      const d = await direct();
      return [await plan(), d];
    };
    options.progress?.(`plans round ${round}/${options.rounds}: chain of ${n} vs ${n} sequential tasks`);
    const [chain, sequential] = await pair(
      () => timePlan(nexus, api, "chain", n, round),
      () => timeSequential(api, n, round),
    );
    const fanOutPairs = options.fanOutPairs ?? 3;
    options.progress?.(
      `plans round ${round}/${options.rounds}: fan-out of ${n} vs ${n} tasks at once, ${fanOutPairs}x`,
    );
    const fans: Array<[Awaited<ReturnType<typeof timePlan>>, Awaited<ReturnType<typeof timeParallel>>]> = [];
    for (let k = 0; k < fanOutPairs; k++) {
      fans.push(
        await pair(
          () => timePlan(nexus, api, "fanout", n, round),
          () => timeParallel(api, n, round),
        ),
      );
    }
    const run = (p: typeof chain, d: typeof sequential): ShapeRun => ({
      planMs: p.ms,
      directMs: d.ms,
      planStoredMs: p.storedMs,
      directStoredMs: d.storedMs,
      transitions: p.transitions,
    });
    return { chain: run(chain, sequential), fanOut: fans.map(([fan, parallel]) => run(fan, parallel)) };
  } finally {
    await nexus.stop();
  }
}

function summarizeShape(steps: number, runs: ShapeRun[]): ShapeResult {
  const planMs = median(runs.map((r) => r.planMs));
  const directMs = median(runs.map((r) => r.directMs));
  const transitionsPerStep = median(runs.map((r) => r.transitions)) / steps;
  return {
    steps,
    planMs,
    directMs,
    planMsPerStep: planMs / steps,
    directMsPerStep: directMs / steps,
    ratio: median(runs.map((r) => r.planMs / r.directMs)),
    storedRatio: median(runs.map((r) => r.planStoredMs / r.directStoredMs)),
    transitionsPerStep,
    usdPer1000Steps: transitionsPerStep * USD_PER_1000_TRANSITIONS,
    pairs: runs,
  };
}

export async function runPlanBench(options: PlanBenchOptions): Promise<PlanBenchResult> {
  const chains: ShapeRun[] = [];
  const fans: ShapeRun[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const { chain, fanOut } = await runRound(round, options);
    chains.push(chain);
    fans.push(...fanOut);
  }
  return {
    config: {
      rounds: options.rounds,
      steps: options.steps,
      fanOutPairs: options.fanOutPairs ?? 3,
      pollMs: POLL_MS,
      fanOut: `${options.steps} independent steps (no start or join step)`,
      order: "direct/plan order alternating pair to pair; fresh runtime per round",
    },
    chain: summarizeShape(options.steps, chains),
    fanOut: summarizeShape(options.steps, fans),
  };
}

const num = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "-";
const ratio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : "-");

/** The plan figures as printed lines (a table, then how to read it). */
export function planLines(r: PlanBenchResult): string[] {
  const widths = [30, 10, 10, 10, 14, 12, 17];
  const row = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("")
      .trimEnd();
  const n = r.config.steps;
  const spread = (values: number[]) => `${num(Math.min(...values))}-${num(Math.max(...values))}`;
  const shape = (name: string, baseline: string, s: ShapeResult) => [
    row([
      `${name} plan`,
      num(s.planMs),
      num(s.planMsPerStep),
      "",
      "",
      num(s.transitionsPerStep, 1),
      spread(s.pairs.map((p) => p.planMs)),
    ]),
    row([`  ${baseline}`, num(s.directMs), num(s.directMsPerStep), "", "", "", spread(s.pairs.map((p) => p.directMs))]),
    row(["  ratio plan/direct", "", "", ratio(s.ratio), ratio(s.storedRatio), "", `(${s.pairs.length} pairs)`]),
  ];
  return [
    `plans: ${n} diag echo steps per plan, same ${n} tasks via POST /v1/tasks as baseline; submit → seen succeeded (poll ${r.config.pollMs} ms), medians of ${r.config.rounds} rounds, 1 chain pair + ${r.config.fanOutPairs} fan-out pairs each (${r.config.order})`,
    row(["", "ms", "ms/step", "ratio", "stored ratio", "trans/step", "min-max ms"]),
    ...shape(`chain of ${n}`, "direct, one after another", r.chain),
    ...shape(`fan-out of ${n}`, "direct, all at once", r.fanOut),
    `  fan-out: ${r.config.fanOut}; stored ratio: the same on stored timestamps (plan createdAt → finishedAt; first task createdAt → last finishedAt)`,
    `  state transitions per step (states entered, Map iterations included): chain ${num(r.chain.transitionsPerStep, 1)}, fan-out ${num(r.fanOut.transitionsPerStep, 1)};` +
      ` at $${USD_PER_1000_TRANSITIONS} per 1,000 transitions (Standard workflows) that is $${r.chain.usdPer1000Steps.toFixed(3)} (chain) / $${r.fanOut.usdPer1000Steps.toFixed(3)} (fan-out) per 1,000 plan steps, Lambda and DynamoDB not included`,
    `  goal: a ${r.config.steps}-step chain within 1.5 s locally: ${r.chain.planMs <= 1500 ? "met" : "NOT met"} (${num(r.chain.planMs)} ms)`,
  ];
}

function parse(argv: string[]) {
  const int = (name: string, fallback: number) => {
    const i = argv.indexOf(name);
    const raw = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be an integer ≥ 1 (got ${raw})`);
    return n;
  };
  return {
    rounds: int("--plan-rounds", 3),
    steps: int("--plan-steps", 10),
    fanOutPairs: int("--plan-fanout-pairs", 3),
    json: argv.includes("--json"),
  };
}

/** Options for runPlanBench from the command line (`--plan-rounds`, `--plan-steps`, `--plan-fanout-pairs`). */
export const planArgs = (argv: string[]) => {
  const { rounds, steps, fanOutPairs } = parse(argv);
  return { rounds, steps, fanOutPairs };
};

async function main() {
  const args = parse(process.argv.slice(2));
  const result = await runPlanBench({
    rounds: args.rounds,
    steps: args.steps,
    fanOutPairs: args.fanOutPairs,
    ...(args.json ? {} : { progress: (line: string) => process.stderr.write(`· ${line}\n`) }),
  });
  process.stdout.write(args.json ? `${JSON.stringify(result)}\n` : `${planLines(result).join("\n")}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `plan bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
