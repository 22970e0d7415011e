/**
 * Heap phase of `npm run bench` (`--skip-heap`): every Lambda function the stack deploys (functions.ts), each after a
 * warm batch of the work it does, against the memory the stack configures (goal: 2x headroom, the peak at most half
 * of it).
 *
 * Each function is bundled as the stack bundles it (bundle.ts, stacks/bundling.ts) and loaded in a fresh
 * `node --expose-gc` process of its own, with the variables the stack gives the functions (all of them to each, the
 * stand-ins' settings included) pointed at emulators and stand-ins in this process: a container that takes one
 * invocation at a time, as Lambda's does. What invokes it is what invokes
 * it in AWS: API Gateway events (the API), an SQS event source mapping of its queue with the agent's batch size
 * (packages/local's QueuePoller: the agents), the plan state machine's Lambda tasks (the local Step Functions
 * endpoint running the stack's definition: the plan runner), EventBridge's scheduled events (sweeper, failures,
 * probe, schedule), SNS alarm notices (alarm chat). Every task of a batch must succeed, so each figure is of work done.
 *
 * Printed per function: heap used and RSS after import, the peak RSS during the batch (sampled from /proc, with its
 * child processes: the research agent's Chromium), heap used and RSS after the batch and a full GC; the headroom is
 * the configured memory over the peak.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SFNClient } from "@aws-sdk/client-sfn";
import { ReceiveMessageCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { builtinAgents } from "@nexus/agents";
import { builtinSpecs } from "@nexus/agents/specs";
import { type Context, createLogger, stepFunctions, type Task } from "@nexus/core";
import * as Agents from "@nexus/core/agents";
import * as Plans from "@nexus/core/plans";
import * as Schedules from "@nexus/core/schedules";
import * as Tasks from "@nexus/core/tasks";
import * as Worker from "@nexus/core/worker";
import { builtinStandIns, QueuePoller, type StandIn, startStepFunctions } from "@nexus/local";
import { startTestContext } from "../support/context.js";
import { apiGatewayEvent } from "../support/events.js";
import { bundleAsStack } from "./bundle.js";
import { type DeployedFunction, deployedFunctions, entryOf } from "./functions.js";

export interface HeapFigures {
  name: string;
  memoryMb: number;
  invocations: number;
  /** What the batch was. */
  work: string;
  importHeapMb: number;
  importRssMb: number;
  /** Highest RSS sampled during the batch, the function's child processes (Chromium) included. */
  peakRssMb: number;
  heapMb: number;
  rssMb: number;
}

const ADMIN = "bench-heap-admin-key-0123456789-0123456789";
const mb = (bytes: number) => bytes / 1024 / 1024;

/**
 * Runs in the child: imports the handler, then answers invocations over IPC one at a time (`{id, event}` → `{id, ok,
 * value | error}`) and memory requests (`{id, memory: true}`: a full GC, then `process.memoryUsage()`).
 */
const CHILD = `
const { handler } = await import(process.argv[2]);
let n = 0;
const usage = () => { global.gc(); const m = process.memoryUsage(); return { heapUsed: m.heapUsed, rss: m.rss }; };
process.on("message", async (message) => {
  if (message.memory) return process.send({ id: message.id, ok: true, value: usage() });
  const context = { functionName: "bench", awsRequestId: "req-" + n++, getRemainingTimeInMillis: () => 60000 };
  try {
    const value = await handler(message.event, context);
    process.send({ id: message.id, ok: true, value: value ?? null });
  } catch (error) {
    process.send({ id: message.id, ok: false, error: String(error && error.stack || error) });
  }
});
process.send({ ready: true });
`;

interface Memory {
  heapUsed: number;
  rss: number;
}

/** RSS of a process and its descendants, from /proc, bytes (an upper bound: shared pages count once per process). */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const visit = (pid: number) => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
      total += kb * 1024;
    } catch {
      return;
    }
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return total;
}

/** A Lambda container: the bundled handler in a process of its own, one invocation at a time. */
class Container {
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private sampler: NodeJS.Timeout | undefined;
  peakRss = 0;
  invocations = 0;

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (raw) => {
      const message = raw as { id: number; ok: boolean; value?: unknown; error?: string };
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(new Error(message.error));
    });
    child.on("exit", (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`the function's process exited (${code})`));
      this.pending.clear();
    });
  }

  static async start(script: string, file: string, env: NodeJS.ProcessEnv): Promise<Container> {
    const child = spawn(process.execPath, ["--expose-gc", script, pathToFileURL(file).href], {
      env,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    await new Promise<void>((ready, fail) => {
      child.once("message", () => ready());
      child.once("exit", (code) => fail(new Error(`the function exited (${code}) while loading: ${stderr}`)));
    });
    return new Container(child);
  }

  private request(message: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, ...message });
    });
  }

  /** One invocation, after those before it (a container handles one at a time). */
  invoke(event: unknown): Promise<unknown> {
    const run = this.queue.then(() => {
      this.invocations++;
      return this.request({ event });
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  memory(): Promise<Memory> {
    return this.request({ memory: true }) as Promise<Memory>;
  }

  /** Samples the RSS of the process and its children until {@link stopSampling}. */
  startSampling() {
    const pid = this.child.pid ?? 0;
    this.sampler = setInterval(() => {
      this.peakRss = Math.max(this.peakRss, treeRss(pid));
    }, 50);
  }

  stopSampling() {
    clearInterval(this.sampler);
    this.peakRss = Math.max(this.peakRss, treeRss(this.child.pid ?? 0));
  }

  async stop() {
    clearInterval(this.sampler);
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await exited;
  }
}

const quiet = createLogger("nexus-test", { level: "SILENT" });

/** Waits until every task is final; throws unless all succeeded (a figure of failed work means nothing). */
async function allSucceeded(ctx: Context, ids: string[], what: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (const id of ids) {
    let task: Task = await Tasks.get(ctx, id);
    while (!["succeeded", "failed", "cancelled"].includes(task.status)) {
      if (Date.now() > deadline) throw new Error(`${what}: task ${id} still ${task.status}`);
      await new Promise((r) => setTimeout(r, 50));
      task = await Tasks.get(ctx, id);
    }
    if (task.status !== "succeeded") {
      throw new Error(`${what}: task ${id} (${task.action}) ${task.status}: ${JSON.stringify(task.error)}`);
    }
  }
}

/** How many of each function's invocations (or tasks) the batch has, from `--heap-requests` (N). */
export interface HeapOptions {
  requests: number;
  /** Only these functions (by name). */
  only?: string[];
  /** render_page tasks of the research agent (each launches Chromium). */
  renders: number;
}

export async function runHeapBench(root: string, options: HeapOptions, progress: (line: string) => void) {
  const n = options.requests;
  const env = await startTestContext({ prefix: "bench-heap-agent-", secrets: { "bench/admin-key": ADMIN } });
  const dir = mkdtempSync(join(tmpdir(), "nexus-bench-heap-"));
  const standIns: StandIn[] = [];
  // The plan runner's container, which the local Step Functions endpoint invokes (set while it is measured).
  let planRunner: Container | undefined;
  const sfn = await startStepFunctions({
    definition: Plans.planDefinition({ PlanRunnerArn: "arn:aws:lambda:us-east-1:123456789012:function:bench-plans" }),
    stateMachineName: "bench-heap-plans",
    logger: quiet,
    invoke: async (payload) => {
      if (!planRunner) throw new Error("no plan runner");
      return planRunner.invoke(payload);
    },
  });
  const sfnClient = new SFNClient({
    region: "us-east-1",
    endpoint: sfn.endpoint,
    credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
  });
  try {
    const { ctx } = env;
    // Plans run on this phase's Step Functions endpoint, whose Lambda function is the plan runner's container.
    ctx.workflows = stepFunctions(sfnClient, sfn.stateMachineArn);
    for (const start of builtinStandIns) standIns.push(await start({}));
    for (const [name, value] of Object.entries(Object.assign({}, ...standIns.map((s) => s.secrets)))) {
      env.putSecret(name, value as string);
    }
    for (const spec of builtinSpecs) {
      await env.addBuiltinQueue(spec.id);
      await Agents.ensureBuiltin(ctx, spec);
    }
    const childEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: tmpdir(),
      ...env.functionEnv({
        AWS_ENDPOINT_URL_SFN: sfn.endpoint,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        NEXUS_ADMIN_KEY_SECRET: "bench/admin-key",
        NEXUS_STAGE: "bench",
        NEXUS_STATE_MACHINE_ARN: sfn.stateMachineArn,
        NEXUS_RATE_LIMIT_PER_MINUTE: "1000000",
        NEXUS_ALARM_CHAT: "ops",
        POWERTOOLS_LOG_LEVEL: "ERROR",
        ...Object.assign({}, ...standIns.map((s) => s.config)),
      }),
    };
    const script = join(dir, "child.mjs");
    writeFileSync(script, CHILD);

    const submit = async (agentId: string, action: string, params: unknown) =>
      (await Tasks.submit(ctx, { agentId, action, params })).task.id;
    /** An agent's container fed by its queue, with the agent's batch size, one batch at a time. */
    const consume = async (container: Container, agentId: string, batchSize: number, ids: string[]) => {
      const queue = ctx.builtinQueues[agentId];
      if (!queue) throw new Error(`no queue for ${agentId}`);
      const poller = new QueuePoller({
        sqs: ctx.sqs,
        queueUrl: queue.url,
        queueArn: queue.arn,
        handler: (event) =>
          container.invoke(event) as ReturnType<ConstructorParameters<typeof QueuePoller>[0]["handler"]>,
        logger: quiet,
        batchSize,
        concurrency: 1,
        timeoutSeconds: 120,
      });
      poller.start();
      try {
        await allSucceeded(ctx, ids, agentId, 300_000);
      } finally {
        await poller.stop();
      }
    };
    const diagAgent = builtinAgents.find((agent) => agent.spec.id === "diag");
    if (!diagAgent) throw new Error("no diag agent");
    /** The diag agent in this process, for the plan runner's steps. */
    const diagHere = () =>
      new QueuePoller({
        sqs: ctx.sqs,
        queueUrl: ctx.builtinQueues.diag?.url ?? "",
        queueArn: ctx.builtinQueues.diag?.arn ?? "",
        handler: Worker.createConsumer({
          ctx,
          agentId: "diag",
          queue: ctx.builtinQueues.diag ?? { url: "", arn: "", dlqUrl: "", dlqArn: "" },
          handlers: diagAgent.handlers({ ctx, config: {}, logger: quiet }),
          logger: quiet,
        }),
        logger: quiet,
        concurrency: 4,
      });

    type Driver = (container: Container) => Promise<string>;
    const schedules: string[] = [];
    const drivers: Record<string, Driver> = {
      api: async (c) => {
        const ids: string[] = [];
        for (let i = 0; i < n; i++) {
          const out = (await c.invoke(
            apiGatewayEvent("POST", "/v1/tasks", { agentId: "diag", action: "echo", params: { i } }, ADMIN),
          )) as { statusCode: number; body: string };
          if (out.statusCode !== 202) throw new Error(`api answered ${out.statusCode}: ${out.body}`);
          ids.push((JSON.parse(out.body) as { id: string }).id);
          if (i % 10 === 9) {
            for (const path of ["/v1/tasks?agentId=diag&limit=20", `/v1/tasks/${ids[i - 5]}`]) {
              const read = (await c.invoke(apiGatewayEvent("GET", path, undefined, ADMIN))) as { statusCode: number };
              if (read.statusCode !== 200) throw new Error(`api answered ${read.statusCode} to GET ${path}`);
            }
          }
        }
        apiTasks.push(...ids);
        return `${n} POST /v1/tasks (diag echo), a listing and a GET of a task after each 10`;
      },
      diag: async (c) => {
        // The API's tasks when it ran before; otherwise as many submitted here.
        if (apiTasks.length === 0) {
          for (let i = 0; i < n; i++) apiTasks.push(await submit("diag", "echo", { i }));
        }
        await consume(c, "diag", 10, apiTasks);
        return `the API's ${apiTasks.length} echo tasks from its queue, batches of 10`;
      },
      comms: async (c) => {
        const ids: string[] = [];
        for (let i = 0; i < n / 5; i++) {
          ids.push(
            i % 2 === 0
              ? await submit("comms", "send_email", {
                  to: ["ops@example.com"],
                  subject: `Report ${i}`,
                  text: `The nightly report ${i}: all green.`,
                })
              : await submit("comms", "post_chat", { channel: "ops", text: `Deploy ${i} done` }),
          );
        }
        await consume(c, "comms", 10, ids);
        return `${ids.length} tasks (send_email to the SES stand-in, post_chat to the chat stand-in), batches of 10`;
      },
      ops: async (c) => {
        const ids: string[] = [];
        const httpCheck = standIns.find((s) => s.name === "ops")?.url ?? "";
        for (let i = 0; i < n / 5; i++) {
          const kind = i % 4;
          if (kind === 0)
            ids.push(await submit("ops", "write_file", { path: `note-${i}.txt`, content: `note ${i}\n` }));
          if (kind === 1) ids.push(await submit("ops", "list_files", {}));
          if (kind === 2) ids.push(await submit("ops", "run_command", { command: "ls", args: ["-la"] }));
          if (kind === 3) ids.push(await submit("ops", "http_check", { url: `${httpCheck}/health` }));
        }
        await consume(c, "ops", 10, ids);
        return `${ids.length} tasks (write_file, list_files, run_command ls, http_check of the stand-in), batches of 10`;
      },
      research: async (c) => {
        const site = standIns.find((s) => s.name === "research")?.url ?? "";
        const ids: string[] = [];
        for (let i = 0; i < n / 10; i++) {
          ids.push(await submit("research", "fetch_page", { url: `${site}/demo/article.html` }));
        }
        for (let i = 0; i < options.renders; i++) {
          ids.push(await submit("research", "render_page", { url: `${site}/demo/app.html`, waitFor: "#ready" }));
        }
        await consume(c, "research", 1, ids);
        return `${n / 10} fetch_page and ${options.renders} render_page (Chromium) of the stand-in's demo pages, one per invocation`;
      },
      strategy: async (c) => {
        const goals = [
          "research https://example.com/report and email a summary to ops@example.com",
          "check https://status.example.com/health and notify #ops",
          "run df -h then email the output to ops@example.com",
          "look up Paris via weather",
        ];
        const text = "Tides rise and fall twice a day. ".repeat(200);
        const ids: string[] = [];
        for (let i = 0; i < n / 5; i++) {
          ids.push(
            i % 2 === 0
              ? await submit("strategy", "plan", { goal: goals[(i / 2) % goals.length] })
              : await submit("strategy", "summarize", { text }),
          );
        }
        await consume(c, "strategy", 10, ids);
        return `${ids.length} tasks (plan a goal by the rules, summarize 6 KB of text), batches of 10`;
      },
      plans: async (c) => {
        planRunner = c;
        const poller = diagHere();
        poller.start();
        try {
          const plans = Math.max(1, Math.round(n / 25));
          const runs: string[] = [];
          for (let p = 0; p < plans; p++) {
            const steps = Array.from({ length: 5 }, (_, i) => ({
              id: `s${i}`,
              agentId: "diag",
              action: "echo",
              params: { step: i, previous: i === 0 ? null : `{{steps.s${i - 1}.result.step}}` },
              ...(i === 0 ? {} : { dependsOn: [`s${i - 1}`] }),
            }));
            const created = await Plans.create(ctx, { name: `bench ${p}`, steps });
            if (created.dryRun) throw new Error("plans: a dry run");
            runs.push(created.plan.id);
          }
          const deadline = Date.now() + 300_000;
          for (const id of runs) {
            let plan = await Plans.get(ctx, id);
            while (!["succeeded", "failed", "cancelled"].includes(plan.status)) {
              if (Date.now() > deadline) throw new Error(`plans: plan ${id} still ${plan.status}`);
              await new Promise((r) => setTimeout(r, 100));
              plan = await Plans.get(ctx, id);
            }
            if (plan.status !== "succeeded") {
              throw new Error(`plans: plan ${id} ${plan.status}: ${JSON.stringify(plan.error)}`);
            }
          }
          return `${plans} plans of a 5-step chain of diag echo through the stack's state machine (${c.invocations} tasks of the state machine)`;
        } finally {
          await poller.stop();
          planRunner = undefined;
        }
      },
      schedule: async (c) => {
        for (let i = 0; i < 10; i++) {
          const created = await Schedules.create(ctx, {
            name: `bench-${i}`,
            cron: "cron(0 9 * * ? *)",
            target: { type: "task", agentId: "diag", action: "echo", params: { schedule: i } },
            // Half start a task each time; half skip while their last task waits (nothing consumes it here).
            overlap: i % 2 === 0 ? "allow" : "skip",
          });
          schedules.push(created.id);
        }
        const times = Math.max(1, Math.round(n / 50));
        const outcomes: Record<string, number> = {};
        for (let t = 0; t < times; t++) {
          for (const scheduleId of schedules) {
            const scheduledAt = new Date(Date.UTC(2030, 0, 1 + t, 9)).toISOString();
            const fired = (await c.invoke({ scheduleId, scheduledAt })) as {
              status: string;
              run?: { outcome: string };
            };
            if (fired.status !== "recorded") throw new Error(`schedule: ${JSON.stringify(fired)}`);
            const outcome = fired.run?.outcome ?? "none";
            outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          }
        }
        const counted = Object.entries(outcomes).map(([outcome, count]) => `${count} ${outcome}`);
        return `${schedules.length} schedules fired ${times} times each (${counted.join(", ")})`;
      },
      sweeper: async (c) => {
        for (let i = 0; i < 20; i++) await c.invoke({ "detail-type": "Scheduled Event", source: "aws.events" });
        return "20 scheduled sweeps over every task and plan the earlier batches stored";
      },
      failures: async (c) => {
        // Tasks' messages, dead-lettered: moved from the diag queue (with the scheduled tasks') to its DLQ.
        const queue = ctx.builtinQueues.diag;
        if (!queue) throw new Error("no diag queue");
        for (let i = 0; i < n / 10; i++) await submit("diag", "echo", { lost: i });
        let moved = 0;
        for (;;) {
          const out = await ctx.sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
          );
          const messages = out.Messages ?? [];
          if (messages.length === 0) break;
          await ctx.sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: queue.dlqUrl,
              Entries: messages.map((m, i) => ({ Id: String(i), MessageBody: m.Body ?? "" })),
            }),
          );
          moved += messages.length;
        }
        for (let i = 0; i < 10; i++) await c.invoke({ "detail-type": "Scheduled Event", source: "aws.events" });
        return `${moved} dead letters ingested, then 10 scheduled runs`;
      },
      probe: async (c) => {
        for (let i = 0; i < 20; i++) await c.invoke({ "detail-type": "Scheduled Event", source: "aws.events" });
        return "20 scheduled probes (a health task to each built-in agent per interval)";
      },
      "alarm-chat": async (c) => {
        const count = Math.max(1, Math.round(n / 10));
        for (let i = 0; i < count; i++) {
          const message = JSON.stringify({
            AlarmName: `nexus-bench-agent-diag-dlq-${i}`,
            AlarmDescription: "Tasks of agent diag were dead-lettered.",
            NewStateValue: i % 2 === 0 ? "ALARM" : "OK",
            OldStateValue: i % 2 === 0 ? "OK" : "ALARM",
            NewStateReason: "Threshold Crossed",
            StateChangeTime: new Date().toISOString(),
            Region: "US East (N. Virginia)",
          });
          await c.invoke({ Records: [{ Sns: { Message: message, MessageId: `m-${i}` } }] });
        }
        return `${count} alarm notices from SNS posted to the chat stand-in`;
      },
    };
    const apiTasks: string[] = [];

    const figures: HeapFigures[] = [];
    for (const fn of deployedFunctions()) {
      if (options.only && !options.only.includes(fn.name)) continue;
      const drive = drivers[fn.name];
      if (!drive) throw new Error(`no batch for the function ${fn.name} (${fn.handler})`);
      figures.push(await measure(fn, drive));
    }
    return figures;

    async function measure(fn: DeployedFunction, drive: Driver): Promise<HeapFigures> {
      progress(`heap: ${fn.name}, bundled as the stack bundles it, in a fresh process`);
      const bundled = await bundleAsStack(root, entryOf(fn.handler), join(dir, fn.name));
      const container = await Container.start(script, bundled.file, childEnv);
      try {
        const atImport = await container.memory();
        container.startSampling();
        const work = await drive(container);
        container.stopSampling();
        const after = await container.memory();
        return {
          name: fn.name,
          memoryMb: fn.memoryMb,
          invocations: container.invocations,
          work,
          importHeapMb: mb(atImport.heapUsed),
          importRssMb: mb(atImport.rss),
          peakRssMb: mb(container.peakRss),
          heapMb: mb(after.heapUsed),
          rssMb: mb(after.rss),
        };
      } finally {
        await container.stop();
      }
    }
  } finally {
    for (const standIn of standIns) await standIn.stop().catch(() => undefined);
    sfnClient.destroy();
    await sfn.stop();
    rmSync(dir, { recursive: true, force: true });
    await env.stop();
  }
}

const fixed = (n: number) => n.toFixed(0);

export function heapLines(figures: HeapFigures[]): string[] {
  const width = Math.max(...figures.map((f) => f.name.length));
  return [
    "Lambda functions' memory after a warm batch (bundled as deployed, each in a fresh node --expose-gc), MB:",
    "  heap after import → after the batch and a full GC; RSS after import → peak during the batch (with child",
    "  processes) → after; headroom = configured memory / peak RSS (goal 2x)",
    ...figures.flatMap((f) => [
      `  ${f.name.padEnd(width)}  heap ${fixed(f.importHeapMb)} → ${fixed(f.heapMb)}; RSS ${fixed(f.importRssMb)} → peak ${fixed(f.peakRssMb)} → ${fixed(f.rssMb)} of ${f.memoryMb}: ${(f.memoryMb / f.peakRssMb).toFixed(1)}x (${f.peakRssMb * 2 <= f.memoryMb ? "met" : "NOT met"})`,
      `  ${"".padEnd(width)}  ${f.invocations} invocations: ${f.work}`,
    ]),
  ];
}
