import { Agent, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { serve } from "@hono/node-server";
import { createTableInput, untilActive } from "@nexus/core";
import * as Keys from "@nexus/core/keys";
import * as Tasks from "@nexus/core/tasks";
import { startDynamo, startLocal, startSqs } from "@nexus/local";
import { Hono } from "hono";
import { keys } from "../../packages/core/src/storage/table.js";
import { percentile, pool, sleep, summarize, type ThroughputResult } from "./stats.js";

export interface ThroughputOptions {
  /** Tasks measured. */
  tasks: number;
  /** Untimed tasks run first on the same emulators (JIT, sockets, table). */
  warmup: number;
  /** Client requests in flight (submitters). */
  submitters: number;
  /** Receive loops per queue: the local runtime's poller concurrency, passed to it explicitly. */
  consumers: number;
  /**
   * Holds the consumers back while the measured tasks are submitted, and starts them once all are in: the CPU of
   * submitting and of consuming is then measured apart (`submitCpuMsPerTask`). Tasks wait in the queue meanwhile, so
   * such a run's throughput and latencies are not comparable with a normal run's.
   */
  splitCpu?: boolean;
}

export interface PhaseResult extends ThroughputResult {
  /** p50/p99 from the client's submit time (before the POST) to the stored finish. */
  clientP50Ms: number;
  clientP99Ms: number;
  /** First submit → last submit returned, ms. */
  submitMs: number;
  /** Process CPU time (user + system, all threads) over the measured window, per task. Everything runs in
   * this one process, so this is the cost of a task end to end, emulators included. */
  cpuMsPerTask: number;
  /** With {@link ThroughputOptions.splitCpu}: the part of `cpuMsPerTask` spent while the tasks were submitted. */
  submitCpuMsPerTask?: number;
  /** SDK commands sent per measured task, by command, during the measured window. */
  callsPerTask: Record<string, number>;
}

/**
 * Counts the commands a client sends, by command name, while `counting` is on. Wraps the instance's `send`
 * (DynamoDBDocumentClient commands run the inner client's middleware, so each call counts once).
 */
class CallCounter {
  counting = false;
  readonly counts = new Map<string, number>();

  wrap(client: object) {
    const target = client as { send: (command: object, ...rest: unknown[]) => Promise<unknown> };
    const original = target.send.bind(client);
    target.send = (command, ...rest) => {
      if (this.counting) {
        const name = `${command.constructor.name.replace(/Command$/, "")}${itemKind(command)}`;
        this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
      }
      return original(command, ...rest);
    };
  }

  perTask(tasks: number): Record<string, number> {
    const entries = [...this.counts.entries()].sort((a, b) => b[1] - a[1]);
    const total = entries.reduce((sum, [, count]) => sum + count, 0);
    return Object.fromEntries([
      ...entries.map(([name, count]) => [name, round2(count / tasks)]),
      ["total", round2(total / tasks)],
    ]);
  }
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/** " TASK", " KEY", " RATE"…: the kind of item a DynamoDB command reads or writes (its PK up to the first `#`). */
function itemKind(command: object): string {
  const input = (command as { input?: { Key?: { PK?: unknown }; Item?: { PK?: unknown } } }).input;
  const pk = input?.Key?.PK ?? input?.Item?.PK;
  const text = typeof pk === "string" ? pk : (pk as { S?: string } | undefined)?.S;
  return text ? ` ${text.split("#")[0]}` : "";
}

const round2 = (n: number) => Math.round(n * 100) / 100;

const REGION = "us-east-1";
const CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };
const AGENT_ID = "diag";
const ACTION = "echo";

// ── Full path: HTTP API → Tasks.submit → queue → poller → Worker consumer ───────────────────────────────

interface HttpReply {
  status: number;
  body: string;
}

/** Where the API is and the key the bench calls it with. */
interface Api {
  agent: Agent;
  base: string;
  authorization: string;
}

function call(api: Api, method: string, path: string, body?: unknown): Promise<HttpReply> {
  const { agent, base } = api;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: {
          authorization: api.authorization,
          ...(payload
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
            : { "content-length": 0 }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

async function submitOverHttp(api: Api, i: number): Promise<string> {
  const reply = await call(api, "POST", "/v1/tasks", { agentId: AGENT_ID, action: ACTION, params: { i } });
  if (reply.status !== 202) throw new Error(`POST /v1/tasks → ${reply.status}: ${reply.body.slice(0, 300)}`);
  const { id } = JSON.parse(reply.body) as { id: string };
  return id;
}

/** True when no diag task is queued or running: two `limit=1` list queries on the (agent, status) index. */
async function drained(api: Api): Promise<boolean> {
  for (const status of ["queued", "running"]) {
    const reply = await call(api, "GET", `/v1/tasks?agentId=${AGENT_ID}&status=${status}&limit=1`);
    if (reply.status !== 200) throw new Error(`GET /v1/tasks → ${reply.status}: ${reply.body.slice(0, 300)}`);
    if ((JSON.parse(reply.body) as { items: unknown[] }).items.length > 0) return false;
  }
  return true;
}

async function waitDrained(api: Api, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await drained(api))) {
    if (Date.now() > deadline) throw new Error(`tasks still queued/running after ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function runFullPath(options: ThroughputOptions): Promise<PhaseResult> {
  const nexus = await startLocal({ port: 0, logLevel: "ERROR", concurrency: options.consumers });
  const calls = new CallCounter();
  calls.wrap(nexus.ctx.ddb);
  calls.wrap(nexus.ctx.sqs);
  const agent = new Agent({ keepAlive: true, maxSockets: options.submitters });
  try {
    // An operator key, as a client would hold (authenticated by lookup, rate-limited, audited). Its limit is
    // set high enough for the run: the limiter's write happens on every request all the same.
    const { token } = await Keys.create(
      nexus.ctx,
      { name: "bench", role: "operator", rateLimitPerMinute: 100_000 },
      "bench",
    );
    const api: Api = { agent, base: nexus.url, authorization: `Bearer ${token}` };
    if (options.warmup > 0) {
      await pool(options.warmup, options.submitters, async (i) => {
        await submitOverHttp(api, -1 - i);
      });
      await waitDrained(api, 120_000);
    }

    const n = options.tasks;
    const ids: string[] = new Array<string>(n);
    const submittedAt: number[] = new Array<number>(n);
    // Told in process when every task has succeeded, as the baseline is: the runtime's own metrics, no request.
    let succeeded = 0;
    let allDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      allDone = resolve;
    });
    const unsubscribe = nexus.metrics.subscribe((point) => {
      if (point.name !== "TasksSucceeded" || point.dimensions.Agent !== AGENT_ID) return;
      succeeded += point.value;
      if (succeeded >= n) allDone();
    });
    calls.counting = true;
    // Held back as an agent's deactivation holds it (its poller pauses), not deactivated: submissions still go in.
    if (options.splitCpu) await nexus.ctx.consumers?.setEnabled(AGENT_ID, false);
    const cpu = process.cpuUsage();
    const startedAt = Date.now();
    await pool(n, options.submitters, async (i) => {
      submittedAt[i] = Date.now();
      ids[i] = await submitOverHttp(api, i);
    });
    const submitMs = Date.now() - startedAt;
    const submitCpuMsPerTask = options.splitCpu ? cpuMs(cpu) / n : undefined;
    if (options.splitCpu) await nexus.ctx.consumers?.setEnabled(AGENT_ID, true);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${n - succeeded} tasks not succeeded after 300 s`)), 300_000);
      }),
    ]);
    clearTimeout(timer);
    const cpuMsPerTask = cpuMs(cpu) / n;
    calls.counting = false;
    unsubscribe();

    // Untimed: read every task as stored (its own createdAt / finishedAt).
    const spans: Array<{ createdAt: number; finishedAt: number }> = [];
    const clientLatencies: number[] = [];
    let notSucceeded = 0;
    await pool(n, options.submitters, async (i) => {
      const task = await Tasks.get(nexus.ctx, ids[i] ?? "");
      if (task.status !== "succeeded" || !task.finishedAt) {
        notSucceeded++;
        return;
      }
      const finishedAt = Date.parse(task.finishedAt);
      spans.push({ createdAt: Date.parse(task.createdAt), finishedAt });
      clientLatencies.push(finishedAt - (submittedAt[i] ?? startedAt));
    });
    clientLatencies.sort((a, b) => a - b);
    const summary = summarize(startedAt, spans, notSucceeded);
    return {
      ...summary,
      clientP50Ms: percentile(clientLatencies, 50),
      clientP99Ms: percentile(clientLatencies, 99),
      submitMs,
      cpuMsPerTask,
      submitCpuMsPerTask,
      callsPerTask: calls.perTask(n),
    };
  } finally {
    agent.destroy();
    await nexus.stop();
  }
}

// ── Baseline: the same emulators driven with only the SDK calls one task needs ────────────────────────

const s = (value: string) => ({ S: value });

/**
 * One task's record, shaped like the product's (same table, same index keys, so both phases maintain the
 * same four task indexes) unless `plain`, which writes only the key and the fields the bench reads.
 */
function taskItem(id: string, at: string, i: number, plain: boolean) {
  const base = {
    PK: s(`TASK#${id}`),
    SK: s("TASK"),
    id: s(id),
    status: s("queued"),
    createdAt: s(at),
  };
  if (plain) return base;
  return {
    ...base,
    agentId: s(AGENT_ID),
    action: s(ACTION),
    params: { M: { i: { N: String(i) } } },
    attempts: { N: "0" },
    maxAttempts: { N: "3" },
    updatedAt: s(at),
    availableAt: s(at),
    timeoutSeconds: { N: "10" },
    events: { L: [{ M: { at: s(at), type: s("queued") } }] },
    ...Object.fromEntries(Object.entries(keys.taskIndexes(id, AGENT_ID, "queued")).map(([k, v]) => [k, s(v)])),
  };
}

/**
 * The raw-SDK baseline. With `http`, its submit is behind an HTTP API as the product's is: the submitters POST each
 * task as JSON to a bare Hono app on 127.0.0.1 (the same node server and client agent), whose handler makes the same
 * two calls and answers 202. What that adds to the plain baseline is the HTTP hop alone, with no product code.
 */
export async function runBaseline(
  options: ThroughputOptions & { plain: boolean; http?: boolean },
): Promise<PhaseResult> {
  const dynamo = await startDynamo();
  const sqsServer = await startSqs();
  const ddb = new DynamoDBClient({ region: REGION, endpoint: dynamo.endpoint, credentials: CREDENTIALS });
  const sqs = new SQSClient({ region: REGION, endpoint: sqsServer.endpoint, credentials: CREDENTIALS });
  const calls = new CallCounter();
  calls.wrap(ddb);
  calls.wrap(sqs);
  const tableName = "bench-baseline";
  let abort = new AbortController();
  let running = true;
  let loops: Promise<void>[] = [];
  let closeApi = async () => {};
  let stopLoops = async (_cut?: boolean) => {};
  try {
    await ddb.send(new CreateTableCommand(createTableInput(tableName)));
    await untilActive(ddb, tableName);
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: "bench-baseline" }));
    const queueUrl = queue.QueueUrl ?? "";

    const createdAt = new Map<string, number>();
    const finishedAt = new Map<string, number>();
    let waiting: { count: number; resolve: () => void } | undefined;
    const finish = (id: string, at: number) => {
      finishedAt.set(id, at);
      if (waiting && finishedAt.size >= waiting.count) waiting.resolve();
    };
    const allFinished = (count: number) =>
      new Promise<void>((resolve) => {
        if (finishedAt.size >= count) resolve();
        else waiting = { count, resolve };
      });

    const handle = async (message: Message) => {
      const { taskId } = JSON.parse(message.Body ?? "{}") as { taskId: string };
      const now = Date.now();
      const at = new Date(now).toISOString();
      await ddb.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { PK: s(`TASK#${taskId}`), SK: s("TASK") },
          UpdateExpression: options.plain
            ? "SET #st = :done, #fin = :at"
            : "SET #st = :done, #fin = :at, #upd = :at, #res = :res, #s = :s, #as = :as, #ev = list_append(#ev, :ev)",
          ConditionExpression: "#st = :queued",
          ExpressionAttributeNames: {
            "#st": "status",
            "#fin": "finishedAt",
            ...(options.plain
              ? {}
              : {
                  "#upd": "updatedAt",
                  "#res": "result",
                  "#s": "TASKS_STATUS_PK",
                  "#as": "TASKS_AGENT_STATUS_PK",
                  "#ev": "events",
                }),
          },
          ExpressionAttributeValues: {
            ":done": s("succeeded"),
            ":queued": s("queued"),
            ":at": s(at),
            ...(options.plain
              ? {}
              : {
                  ":res": { M: {} },
                  ":s": s(keys.taskIndexes(taskId, AGENT_ID, "succeeded").TASKS_STATUS_PK),
                  ":as": s(keys.taskIndexes(taskId, AGENT_ID, "succeeded").TASKS_AGENT_STATUS_PK),
                  ":ev": { L: [{ M: { at: s(at), type: s("succeeded") } }] },
                }),
          },
        }),
      );
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      finish(taskId, now);
    };

    const consume = async () => {
      while (running) {
        let messages: Message[];
        try {
          const out = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
            { abortSignal: abort.signal },
          );
          messages = out.Messages ?? [];
        } catch (error) {
          if (!running) return;
          throw error;
        }
        await Promise.all(messages.map(handle));
      }
    };
    const startLoops = () => {
      running = true;
      abort = new AbortController();
      loops = Array.from({ length: options.consumers }, consume);
    };
    // Stopped between runs, the loops end their receives (at most a second's long poll): a receive cut short could
    // leave the emulator handing its messages to a closed connection, hidden for their visibility timeout.
    stopLoops = async (cut = false) => {
      running = false;
      if (cut) abort.abort();
      await Promise.allSettled(loops);
    };
    startLoops();

    const submit = async (id: string, i: number) => {
      const now = Date.now();
      createdAt.set(id, now);
      const at = new Date(now).toISOString();
      await ddb.send(
        new PutItemCommand({
          TableName: tableName,
          Item: taskItem(id, at, i, options.plain),
          ConditionExpression: "attribute_not_exists(PK)",
        }),
      );
      await sqs.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify({ taskId: id, attempt: 1 }) }),
      );
    };

    let post: typeof submit = submit;
    if (options.http) {
      const api = await bareApi(submit, options.submitters);
      post = api.submit;
      closeApi = api.close;
    }

    if (options.warmup > 0) {
      await pool(options.warmup, options.submitters, (i) => post(`warm-${i}`, -1 - i));
      await allFinished(options.warmup);
    }
    const before = finishedAt.size;
    const n = options.tasks;
    calls.counting = true;
    if (options.splitCpu) await stopLoops();
    const cpu = process.cpuUsage();
    const startedAt = Date.now();
    await pool(n, options.submitters, (i) => post(`task-${i}`, i));
    const submitMs = Date.now() - startedAt;
    const submitCpuMsPerTask = options.splitCpu ? cpuMs(cpu) / n : undefined;
    if (options.splitCpu) startLoops();
    await allFinished(before + n);
    const cpuMsPerTask = cpuMs(cpu) / n;
    calls.counting = false;

    const spans: Array<{ createdAt: number; finishedAt: number }> = [];
    for (let i = 0; i < n; i++) {
      const id = `task-${i}`;
      const start = createdAt.get(id);
      const end = finishedAt.get(id);
      if (start !== undefined && end !== undefined) spans.push({ createdAt: start, finishedAt: end });
    }
    const summary = summarize(startedAt, spans, n - spans.length);
    return {
      ...summary,
      clientP50Ms: summary.p50Ms,
      clientP99Ms: summary.p99Ms,
      submitMs,
      cpuMsPerTask,
      submitCpuMsPerTask,
      callsPerTask: calls.perTask(n),
    };
  } finally {
    await closeApi();
    await stopLoops(true);
    ddb.destroy();
    sqs.destroy();
    await sqsServer.stop();
    await dynamo.stop();
  }
}

/**
 * A bare HTTP API in front of `submit`: `POST /v1/tasks` with `{ id, params }` runs it and answers 202 with the id.
 * Returns the client side (a POST per task, over keep-alive sockets) and what stops the server.
 */
async function bareApi(submit: (id: string, i: number) => Promise<void>, sockets: number) {
  const app = new Hono();
  app.post("/v1/tasks", async (c) => {
    const body = (await c.req.json()) as { id: string; params: { i: number } };
    await submit(body.id, body.params.i);
    return c.json({ id: body.id }, 202);
  });
  const server = await new Promise<Server>((resolve) => {
    const started = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(started as Server));
  });
  const { port } = server.address() as AddressInfo;
  const api: Api = {
    agent: new Agent({ keepAlive: true, maxSockets: sockets }),
    base: `http://127.0.0.1:${port}`,
    authorization: "Bearer -",
  };
  return {
    submit: async (id: string, i: number) => {
      const reply = await call(api, "POST", "/v1/tasks", { id, agentId: AGENT_ID, action: ACTION, params: { i } });
      if (reply.status !== 202) throw new Error(`bare POST /v1/tasks → ${reply.status}: ${reply.body.slice(0, 300)}`);
    },
    close: async () => {
      api.agent.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
