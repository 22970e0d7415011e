/**
 * Cost phase of `npm run bench`: what a simple task and a plan step cost in AWS, measured on the local runtime and
 * priced at published on-demand prices (packages/core/src/prices.ts).
 *
 * On a fresh runtime (startLocal, log level INFO as in Lambda, the sweeper, probe, failure ingestion and schedules out
 * of the way), after an untimed warm-up:
 *   1. simple tasks: `diag echo` submitted with POST /v1/tasks (operator key), one in flight, run by the diag
 *      agent's poller (the event source mapping's stand-in) until every one is `succeeded` and its message deleted;
 *   2. the same tasks submitted 10 a request (POST /v1/tasks/batch);
 *   3. plan steps: chain and fan-out plans of `diag echo` steps (POST /v1/plans) until each has `succeeded`.
 * Meanwhile every request the runtime's clients send is metered (meter.ts): DynamoDB requests and capacity units
 * (tables and indexes), SQS requests (64 KB chunks; the pollers' empty receives apart, an idle cost), Step Functions
 * API calls (free: Standard workflows bill transitions) and object storage PUTs and GETs. Lambda invocations: one per
 * API request (timed from the client, an upper bound of the function's time), one per agent batch (timed from its
 * receive to its delete), and the plan runner's (counted and timed by the local Step Functions endpoint), each at
 * its function's memory and architecture as the stack configures them (core cost.ts FUNCTIONS). Logs: the lines the
 * runtime writes (stdout and stderr, captured while measuring; 26 bytes each added as CloudWatch counts an event),
 * plus per invocation the platform's records and per API request an access log line (modelled: MODEL in cost.ts),
 * plus each execution's history as the state machine logs it (level ALL, with execution data; estimated by the
 * endpoint). X-Ray: the default sampling's 5 % of invocations.
 *
 * The line: the agents' own compute (the action's run time) is in the agent batch's time here only as far as
 * `diag echo` takes any (it returns its params); the estimate on a task (`cost`) leaves it out.
 *
 * Alone: `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true npx tsx tests/bench/cost.ts [--cost-tasks N] [--json]`.
 */
import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import {
  addUsage,
  COST_ITEMS,
  type CostEstimate,
  type CostItem,
  dataClients,
  FUNCTIONS,
  invocation,
  MODEL,
  noUsage,
  PRICES,
  priceOf,
  scaleUsage,
  type Usage,
} from "@nexus/core";
import * as Keys from "@nexus/core/keys";
import * as Plans from "@nexus/core/plans";
import * as Tasks from "@nexus/core/tasks";
import { type LocalNexus, startLocal } from "@nexus/local";
import { type DynamoTotals, meterDynamo, meterSqs, type SqsTotals } from "./meter.js";
import { pool, sleep } from "./stats.js";

export interface CostOptions {
  /** Simple tasks measured (default 500). */
  tasks: number;
  /** Steps per plan (default 10), and plans of each shape, chain and fan-out (default 2). */
  planSteps: number;
  plans: number;
  progress(line: string): void;
}

/** One measured workload: what it used in all and per unit (task or plan step), and what that costs. */
export interface CostRun {
  units: number;
  usage: Usage;
  perUnit: Usage;
  /** Dollars per million units, by item. */
  perMillion: CostEstimate;
  requests: Record<string, number>;
  writes: { table: number; indexes: Record<string, number>; byKind: Record<string, number> };
  invocations: { api: number; apiMs: number; agent: number; agentMs: number; runner: number; runnerMs: number };
  logBytes: { app: number; platform: number; access: number; executions: number };
  /** Messages per agent invocation. */
  tasksPerInvocation: number;
  transitions: number;
  /** SQS receives that found nothing (the pollers' idle cost), during the run. */
  emptyReceives: number;
}

export interface CostResult {
  tasks: CostRun;
  /** The same tasks at one task per agent invocation (a quiet queue: each message its own batch). */
  tasksAlone: CostEstimate;
  /** The same tasks submitted 10 a request (POST /v1/tasks/batch), and the mean of their `cost` estimates. */
  batched: CostRun;
  batchedEstimate: CostEstimate;
  steps: CostRun;
  /** The mean of the `cost` the API shows on each measured task, per million tasks. */
  apiEstimate: CostEstimate;
  goalUsdPerMillionTasks: number;
}

const CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };
/** One request at a time: the API function's time is then its own, not a queue's in this one process. */
const IN_FLIGHT = 1;
/** Tasks per request in the batched run. */
const BATCH = 10;
/** What CloudWatch Logs counts per event besides its message. */
const EVENT_OVERHEAD = 26;

/** Keeps the runtime's log lines off the terminal, and counts those written while on. */
function captureLogs() {
  let bytes = 0;
  let on = false;
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((s) => s.write.bind(s));
  streams.forEach((stream, i) => {
    const original = originals[i] as typeof stream.write;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8");
      if (text.startsWith("{")) {
        if (on) for (const line of text.split("\n")) if (line) bytes += Buffer.byteLength(line) + EVENT_OVERHEAD;
        return true;
      }
      return original(chunk as string, ...(rest as []));
    }) as typeof stream.write;
  });
  return {
    start: () => {
      bytes = 0;
      on = true;
    },
    stop: () => {
      on = false;
      return bytes;
    },
    restore: () => {
      streams.forEach((stream, i) => {
        stream.write = originals[i] as typeof stream.write;
      });
    },
  };
}

/** Counts the calls made of an object's methods while on (Step Functions' API, the object store's PUT and GET). */
function countCalls(target: object | undefined, prefix: string, counts: Record<string, number>, on: () => boolean) {
  if (!target) return;
  const methods = target as Record<string, unknown>;
  for (const [name, value] of Object.entries(methods)) {
    if (typeof value !== "function") continue;
    const original = value as (...args: unknown[]) => unknown;
    methods[name] = (...args: unknown[]) => {
      if (on()) counts[`${prefix}.${name}`] = (counts[`${prefix}.${name}`] ?? 0) + 1;
      return original.apply(target, args);
    };
  }
}

/** The ids a submission answered with: the task or plan's, or each of a batch's tasks. */
async function post(nexus: LocalNexus, token: string, path: string, body: unknown): Promise<string[]> {
  const reply = await fetch(`${nexus.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await reply.json()) as { id?: string; items?: Array<{ task: { id: string } }> };
  if (reply.status >= 300) throw new Error(`POST ${path} → ${reply.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return json.items ? json.items.map((item) => item.task.id) : [String(json.id)];
}

interface Meters {
  nexus: LocalNexus;
  /** A context whose DynamoDB client is not metered, to watch progress with. */
  watch: LocalNexus["ctx"];
  /**
   * Runs `work` with every request counted; with `capacity`, DynamoDB's units too (the meter reads each written item
   * before and after, which slows the writes: times are taken from a run without it).
   */
  measure(
    work: (api: ApiTimer) => Promise<string[]>,
    done: (sqs: SqsTotals) => boolean,
    capacity: boolean,
  ): Promise<Raw>;
  close(): void;
}

/** Times the API requests a workload makes (each one an invocation of the API function). */
interface ApiTimer {
  post(path: string, body: unknown): Promise<string[]>;
}

/** What one run of a workload used, as counted. */
interface Raw {
  ddb: DynamoTotals;
  sqs: SqsTotals;
  calls: Record<string, number>;
  api: number;
  apiMs: number;
  runner: number;
  runnerMs: number;
  transitions: number;
  executionLogBytes: number;
  appLogBytes: number;
}

async function meters(nexus: LocalNexus, token: string): Promise<Meters> {
  const dynamo = await meterDynamo(nexus.ctx.ddb, nexus.endpoints.dynamodb, nexus.ctx.tableName);
  const sqs = meterSqs(nexus.ctx.sqs);
  const logs = captureLogs();
  let on = false;
  const calls: Record<string, number> = {};
  countCalls(nexus.ctx.workflows, "StepFunctions", calls, () => on);
  countCalls(nexus.ctx.payloads, "S3", calls, () => on);
  const watch = {
    ...nexus.ctx,
    ddb: dataClients({ region: "us-east-1", dynamodbEndpoint: nexus.endpoints.dynamodb, credentials: CREDENTIALS }).ddb,
  };
  return {
    nexus,
    watch,
    async measure(work, done, capacity) {
      for (const key of Object.keys(calls)) delete calls[key];
      let api = 0;
      let apiMs = 0;
      const timer: ApiTimer = {
        async post(path, body) {
          const started = performance.now();
          const ids = await post(nexus, token, path, body);
          apiMs += performance.now() - started;
          api++;
          return ids;
        },
      };
      if (capacity) dynamo.start();
      sqs.start();
      logs.start();
      on = true;
      const planIds = await work(timer);
      // Until the last batch's messages are deleted (each batch is timed to its delete).
      for (let waited = 0; !done(sqs.peek()); waited += 20) {
        if (waited > 60_000) throw new Error("the agents' batches did not finish within a minute");
        await sleep(20);
      }
      on = false;
      const appLogBytes = logs.stop();
      const ddb = capacity
        ? dynamo.stop()
        : { requests: {}, tableWrites: 0, indexWrites: {}, reads: 0, writesByKind: {} };
      const raw: Raw = {
        ddb,
        sqs: sqs.stop(),
        calls: { ...calls },
        api,
        apiMs,
        runner: 0,
        runnerMs: 0,
        transitions: 0,
        executionLogBytes: 0,
        appLogBytes,
      };
      for (const id of planIds) {
        const plan = await Plans.get(watch, id);
        if (!plan.executionArn) continue;
        await nexus.stepFunctions.settled(plan.executionArn);
        const usage = nexus.stepFunctions.usage(plan.executionArn);
        raw.runner += usage?.invocations ?? 0;
        raw.runnerMs += usage?.invokeMs ?? 0;
        raw.transitions += usage?.transitions ?? 0;
        raw.executionLogBytes += usage?.logBytes ?? 0;
      }
      return raw;
    },
    close: () => {
      logs.restore();
      dynamo.close();
    },
  };
}

/** A workload's cost per unit: counts and units from the metered run, times from the timed one. */
function costRun(units: number, counted: Raw, timed: Raw): CostRun {
  const { ddb, sqs: totals, calls } = counted;
  const perInvocation = (ms: number, n: number) => (n > 0 ? ms / n : 0);
  const apiMs = perInvocation(timed.apiMs, timed.api) * counted.api;
  const timedBatches = timed.sqs.batches;
  const agentMs =
    perInvocation(
      timedBatches.reduce((sum, b) => sum + b.ms, 0),
      timedBatches.length,
    ) * totals.batches.length;
  const runnerMs = perInvocation(timed.runnerMs, timed.runner) * counted.runner;
  const agentInvocations = totals.batches.length;
  const invocations = counted.api + agentInvocations + counted.runner;
  const platform = invocations * MODEL.platformLogBytes;
  const access = counted.api * MODEL.accessLogBytes;
  const usage = addUsage(
    {
      ...noUsage(),
      apiRequests: counted.api,
      lambdaRequests: invocations,
      writeUnits: ddb.tableWrites + Object.values(ddb.indexWrites).reduce((a, b) => a + b, 0),
      readUnits: ddb.reads,
      sqsRequests: totals.billed,
      transitions: counted.transitions,
      logBytes: counted.appLogBytes + platform + access + counted.executionLogBytes,
      s3Puts: calls["S3.put"] ?? 0,
      s3Gets: calls["S3.get"] ?? 0,
      traces: invocations * MODEL.traceSampling,
    },
    gbOnly(invocation(FUNCTIONS.api, apiMs)),
    gbOnly(invocation(FUNCTIONS.agent, agentMs)),
    gbOnly(invocation(FUNCTIONS.planRunner, runnerMs)),
  );
  const perUnit = scaleUsage(usage, 1 / units);
  const per = (entries: Record<string, number>, prefix = "") =>
    Object.fromEntries(Object.entries(entries).map(([k, v]) => [`${prefix}${k}`, v / units]));
  return {
    units,
    usage,
    perUnit,
    perMillion: priceOf(scaleUsage(perUnit, 1e6)),
    requests: { ...per(ddb.requests, "DynamoDB."), ...per(totals.requests, "SQS."), ...per(calls) },
    writes: { table: ddb.tableWrites / units, indexes: per(ddb.indexWrites), byKind: per(ddb.writesByKind) },
    invocations: {
      api: counted.api,
      apiMs,
      agent: agentInvocations,
      agentMs,
      runner: counted.runner,
      runnerMs,
    },
    logBytes: { app: counted.appLogBytes, platform, access, executions: counted.executionLogBytes },
    tasksPerInvocation: agentInvocations > 0 ? totals.received / agentInvocations : Number.NaN,
    transitions: counted.transitions,
    emptyReceives: totals.requests["ReceiveMessage (empty)"] ?? 0,
  };
}

/** Only the GB-seconds of an invocation (its request, logs and trace are counted apart). */
const gbOnly = (u: Usage): Usage => ({ ...noUsage(), gbSeconds: u.gbSeconds });

/** Waits until each of `ids`, read with `get`, has succeeded (throws if one ends otherwise or takes a minute). */
async function waitSucceeded(ids: string[], get: (id: string) => Promise<{ status: string }>) {
  for (const id of ids) {
    for (let waited = 0; ; waited += 10) {
      const { status } = await get(id);
      if (status === "succeeded") break;
      if (status === "failed" || status === "cancelled") throw new Error(`${id} ended ${status}`);
      if (waited > 60_000) throw new Error(`${id} still ${status} after a minute`);
      await sleep(10);
    }
  }
}

const waitTasks = (watch: LocalNexus["ctx"], ids: string[]) => waitSucceeded(ids, (id) => Tasks.get(watch, id));
const waitPlans = (watch: LocalNexus["ctx"], ids: string[]) => waitSucceeded(ids, (id) => Plans.get(watch, id));

const planBody = (shape: "chain" | "fanout", steps: number, n: number) => ({
  name: `cost-${shape}-${n}`,
  steps: Array.from({ length: steps }, (_, i) => ({
    id: `s${i}`,
    agentId: "diag",
    action: "echo",
    params: { shape, n, i },
    ...(shape === "chain" && i > 0 ? { dependsOn: [`s${i - 1}`] } : {}),
  })),
});

export async function runCostBench(options: CostOptions): Promise<CostResult> {
  const nexus = await startLocal({
    port: 0,
    logLevel: "INFO",
    concurrency: 4,
    sweepIntervalMs: 3_600_000,
    probeIntervalMs: 3_600_000,
    failureIngestIntervalMs: 3_600_000,
    scheduleIntervalMs: 0,
  });
  let m: Meters | undefined;
  try {
    const { token } = await Keys.create(
      nexus.ctx,
      { name: "bench", role: "operator", rateLimitPerMinute: 100_000 },
      "bench",
    );
    m = await meters(nexus, token);
    const meter = m;
    // Untimed warm-up: tasks and a plan (JIT, caches, sockets).
    const warm = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(nexus, token, "/v1/tasks", { agentId: "diag", action: "echo", params: { warm: i } }),
      ),
    );
    await waitTasks(meter.watch, warm.flat());
    await waitPlans(meter.watch, await post(nexus, token, "/v1/plans", planBody("chain", 2, -1)));

    options.progress(
      `cost: ${options.tasks} diag echo tasks, ${IN_FLIGHT} in flight, every AWS request metered; again, timed`,
    );
    const runTasks = (ids: string[]) => async (api: ApiTimer) => {
      await pool(options.tasks, IN_FLIGHT, async (i) => {
        ids.push(...(await api.post("/v1/tasks", { agentId: "diag", action: "echo", params: { i } })));
      });
      await waitTasks(meter.watch, ids);
      return [];
    };
    const tasksDone = (sqs: SqsTotals) => sqs.batches.reduce((sum, b) => sum + b.messages, 0) >= options.tasks;
    const ids: string[] = [];
    const countedTasks = await meter.measure(runTasks(ids), tasksDone, true);
    const tasks = costRun(options.tasks, countedTasks, await meter.measure(runTasks([]), tasksDone, false));
    const estimates = await Promise.all(ids.map(async (id) => (await Tasks.get(meter.watch, id)).cost));
    const apiEstimate = perMillion(estimates.filter((e): e is CostEstimate => e !== undefined));

    options.progress(
      `cost: ${options.tasks} diag echo tasks in batches of ${BATCH} (POST /v1/tasks/batch), metered; again, timed`,
    );
    const runBatches = (batchIds: string[]) => async (api: ApiTimer) => {
      await pool(Math.ceil(options.tasks / BATCH), IN_FLIGHT, async (b) => {
        const tasks = Array.from({ length: BATCH }, (_, i) => ({ agentId: "diag", action: "echo", params: { b, i } }));
        batchIds.push(...(await api.post("/v1/tasks/batch", { tasks })));
      });
      await waitTasks(meter.watch, batchIds);
      return [];
    };
    const batchIds: string[] = [];
    const batchedUnits = Math.ceil(options.tasks / BATCH) * BATCH;
    const batchesDone = (sqs: SqsTotals) => sqs.batches.reduce((sum, b) => sum + b.messages, 0) >= batchedUnits;
    const countedBatched = await meter.measure(runBatches(batchIds), batchesDone, true);
    const batched = costRun(batchedUnits, countedBatched, await meter.measure(runBatches([]), batchesDone, false));
    const batchedEstimates = await Promise.all(batchIds.map(async (id) => (await Tasks.get(meter.watch, id)).cost));
    const batchedEstimate = perMillion(batchedEstimates.filter((e): e is CostEstimate => e !== undefined));

    const steps = options.planSteps * options.plans * 2;
    options.progress(
      `cost: ${options.plans} chain and ${options.plans} fan-out plans of ${options.planSteps} diag echo steps, metered; again, timed`,
    );
    const runPlans = async (api: ApiTimer) => {
      const planIds: string[] = [];
      for (let n = 0; n < options.plans; n++) {
        planIds.push(...(await api.post("/v1/plans", planBody("chain", options.planSteps, n))));
        planIds.push(...(await api.post("/v1/plans", planBody("fanout", options.planSteps, n))));
      }
      await waitPlans(meter.watch, planIds);
      return planIds;
    };
    const stepsDone = (sqs: SqsTotals) => sqs.batches.reduce((sum, b) => sum + b.messages, 0) >= steps;
    const countedSteps = await meter.measure(runPlans, stepsDone, true);
    const stepRun = costRun(steps, countedSteps, await meter.measure(runPlans, stepsDone, false));

    // The same simple tasks, each message its own invocation: the requests and platform logs of one per task.
    const alone = addUsage(tasks.perUnit, {
      ...noUsage(),
      lambdaRequests: 1 - tasks.invocations.agent / tasks.units,
      logBytes: (1 - tasks.invocations.agent / tasks.units) * MODEL.platformLogBytes,
      traces: (1 - tasks.invocations.agent / tasks.units) * MODEL.traceSampling,
      sqsRequests: 2 * (1 - tasks.invocations.agent / tasks.units),
    });
    return {
      tasks,
      tasksAlone: priceOf(scaleUsage(alone, 1e6)),
      batched,
      batchedEstimate,
      steps: stepRun,
      apiEstimate,
      goalUsdPerMillionTasks: 3,
    };
  } finally {
    m?.close();
    await nexus.stop();
  }
}

/** The mean of estimates, per million. */
function perMillion(estimates: CostEstimate[]): CostEstimate {
  const n = Math.max(1, estimates.length);
  const items = Object.fromEntries(
    COST_ITEMS.map((item) => [item, (estimates.reduce((sum, e) => sum + e.items[item], 0) / n) * 1e6]),
  ) as Record<CostItem, number>;
  return { usd: Object.values(items).reduce((a, b) => a + b, 0), items, basis: estimates[0]?.basis ?? "" };
}

const usd = (n: number) => (Number.isFinite(n) ? `$${n.toFixed(n < 0.1 ? 3 : 2)}` : "-");
const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

/** Units per task or step of each item, as printed. */
function unitsOf(item: CostItem, u: Usage): string {
  switch (item) {
    case "apiGateway":
      return `${fixed(u.apiRequests, 3)} req`;
    case "lambdaRequests":
      return `${fixed(u.lambdaRequests, 3)} inv`;
    case "lambdaDuration":
      return `${fixed((u.gbSeconds.arm64 + u.gbSeconds.x86_64) * 1000, 2)} GB-ms`;
    case "dynamodbWrites":
      return `${fixed(u.writeUnits)} WRU`;
    case "dynamodbReads":
      return `${fixed(u.readUnits)} RRU`;
    case "sqs":
      return `${fixed(u.sqsRequests)} req`;
    case "stepFunctions":
      return `${fixed(u.transitions, 1)} trans`;
    case "logs":
      return `${fixed(u.logBytes, 0)} B`;
    case "s3":
      return `${fixed(u.s3Puts + u.s3Gets)} req`;
    case "xray":
      return `${fixed(u.traces, 3)} traces`;
  }
}

/** The cost figures as printed lines: the itemized table, then how each figure was found. */
export function costLines(r: CostResult): string[] {
  const t = r.tasks;
  const s = r.steps;
  const b = r.batched;
  const head = [
    "item",
    "per task",
    "$/M tasks",
    "API estimate",
    `per task, ${BATCH}/req`,
    "$/M tasks",
    "API estimate",
    "per plan step",
    "$/M steps",
  ];
  const rows = COST_ITEMS.map((item) => [
    item,
    unitsOf(item, t.perUnit),
    usd(t.perMillion.items[item]),
    usd(r.apiEstimate.items[item]),
    unitsOf(item, b.perUnit),
    usd(b.perMillion.items[item]),
    usd(r.batchedEstimate.items[item]),
    unitsOf(item, s.perUnit),
    usd(s.perMillion.items[item]),
  ]);
  rows.push([
    "total",
    "",
    usd(t.perMillion.usd),
    usd(r.apiEstimate.usd),
    "",
    usd(b.perMillion.usd),
    usd(r.batchedEstimate.usd),
    "",
    usd(s.perMillion.usd),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)) + 2);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("")
      .trimEnd();
  const requests = (run: CostRun) =>
    Object.entries(run.requests)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} ${fixed(v)}`)
      .join(" · ");
  const kinds = (run: CostRun) =>
    Object.entries(run.writes.byKind)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} ${fixed(v)}`)
      .join(" · ");
  const ms = (total: number, n: number) => fixed(n > 0 ? total / n : Number.NaN, 1);
  const goal = r.goalUsdPerMillionTasks;
  return [
    `cost: ${t.units} diag echo tasks, ${s.units} plan steps (chain and fan-out), at ${PRICES.region} on-demand prices (${PRICES.asOf}, packages/core/src/prices.ts)`,
    line(head),
    ...rows.map(line),
    `  goal <= $${goal.toFixed(2)} per million simple tasks: ${t.perMillion.usd <= goal ? "met" : "NOT met"} (${usd(t.perMillion.usd)} measured at ${fixed(t.tasksPerInvocation, 1)} tasks per agent invocation; ${usd(r.tasksAlone.usd)} at one per invocation)`,
    `  submitted ${BATCH} a request: ${usd(b.perMillion.usd)} per million at ${fixed(b.tasksPerInvocation, 1)} tasks per agent invocation; goal ${b.perMillion.usd <= goal ? "met" : "NOT met"}`,
    `  API estimate: the mean of the \`cost\` GET /v1/tasks/{id} shows on each measured task (its model takes one task per invocation)`,
    `  requests per task: ${requests(t)}`,
    `  requests per task, ${BATCH} a request: ${requests(b)}`,
    `  requests per step: ${requests(s)}`,
    `  write units per task by item kind (table + indexes): ${kinds(t)}; table ${fixed(t.writes.table)}, indexes ${Object.entries(
      t.writes.indexes,
    )
      .map(([k, v]) => `${k} ${fixed(v)}`)
      .join(" · ")}`,
    `  write units per task, ${BATCH} a request: ${kinds(b)}`,
    `  write units per step by item kind: ${kinds(s)}`,
    `  Lambda, tasks: API ${t.invocations.api} requests, ${ms(t.invocations.apiMs, t.invocations.api)} ms each (client-side); diag ${t.invocations.agent} invocations, ${ms(t.invocations.agentMs, t.invocations.agent)} ms each (receive → delete); ${FUNCTIONS.api.memoryMb} MB ${FUNCTIONS.api.architecture}`,
    `  Lambda, steps: API ${s.invocations.api}, ${ms(s.invocations.apiMs, s.invocations.api)} ms; diag ${s.invocations.agent}, ${ms(s.invocations.agentMs, s.invocations.agent)} ms; plan runner ${s.invocations.runner}, ${ms(s.invocations.runnerMs, s.invocations.runner)} ms; ${fixed(s.transitions / s.units, 1)} transitions per step`,
    `  log bytes per task: app ${fixed(t.logBytes.app / t.units, 0)}, platform ${fixed(t.logBytes.platform / t.units, 0)}, access ${fixed(t.logBytes.access / t.units, 0)}; per step: app ${fixed(s.logBytes.app / s.units, 0)}, platform ${fixed(s.logBytes.platform / s.units, 0)}, access ${fixed(s.logBytes.access / s.units, 0)}, execution history ${fixed(s.logBytes.executions / s.units, 0)}`,
    `  times measured locally (emulators in the same process; load average ${loadavg()
      .map((n) => n.toFixed(1))
      .join(" ")} at the end), so an upper bound of what the functions take in AWS`,
    `  not per task: the pollers' empty receives (${t.emptyReceives} during the tasks; in AWS each queue's event source mapping long-polls while idle), free tiers, data transfer`,
  ];
}

async function main() {
  const argv = process.argv.slice(2);
  const int = (name: string, fallback: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  const result = await runCostBench({
    tasks: int("--cost-tasks", 500),
    planSteps: int("--cost-plan-steps", 10),
    plans: int("--cost-plans", 2),
    progress: (line) => process.stderr.write(`· ${line}\n`),
  });
  process.stdout.write(argv.includes("--json") ? `${JSON.stringify(result)}\n` : `${costLines(result).join("\n")}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `cost bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
