import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as Keys from "@nexus/core/keys";
import { afterEach, describe, expect, it } from "vitest";
import { apiClient, type Json } from "../support/client.js";

/**
 * Fault drills at scale: the local runtime and a remote worker run as processes of their own and are killed with
 * SIGKILL mid-batch, then started again. Both record every execution of their action (task and attempt), so
 * the drill can tell a lost task, a task failed by recovery, a task that succeeded twice, and a duplicate
 * execution that no expired lease explains.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const RUNTIME = join(ROOT, "tests/support/drill/runtime.ts");
const WORKER = join(ROOT, "tests/support/drill/worker.ts");
const LOCAL_TASKS = 2000;
const REMOTE_TASKS = 1000;
const PLANS = 20;

const children = new Set<ChildProcess>();
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children) await kill(child);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

/** Starts a script under tsx and resolves with the JSON line it prints when ready. */
async function launch(
  script: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; info: Json; tail: () => string }> {
  const child = spawn(process.execPath, ["--conditions=@nexus/source", "--import", "tsx", script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  let out = "";
  let err = "";
  // The child's last output (its error logs go to stdout), shown when a request to it fails.
  let tail = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-6000);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    err = (err + chunk.toString()).slice(-4000);
    tail = (tail + chunk.toString()).slice(-6000);
    // DRILL_DEBUG=<file> keeps the children's own logs, for a drill that fails.
    if (process.env.DRILL_DEBUG) appendFileSync(process.env.DRILL_DEBUG, chunk);
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready in 90 s: ${err}`)), 90_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        clearTimeout(timer);
        resolvePromise({ child, info: JSON.parse(line), tail: () => tail });
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before it was ready: ${err}`));
    });
  });
}

async function kill(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** Every execution a log recorded: `start`/`end` lines with task id and attempt. */
function executions(file: string) {
  const lines = existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
  return lines.map((line) => {
    const [kind, taskId, attempt] = line.split(" ");
    return { kind: kind ?? "", taskId: taskId ?? "", attempt: Number(attempt) };
  });
}
const ends = (file: string) => executions(file).filter((e) => e.kind === "end").length;

/** Executions a log shows started and not ended (each attempt of a task is one). */
function inFlight(file: string): number {
  const open = new Set<string>();
  for (const e of executions(file)) {
    const attempt = `${e.taskId}#${e.attempt}`;
    if (e.kind === "start") open.add(attempt);
    else open.delete(attempt);
  }
  return open.size;
}

async function until(what: string, condition: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/**
 * A POST as a client sends it to a loaded service: a 503 or 429 is sent again after its Retry-After (at most 5 s,
 * 8 tries in all). `stored` finds what an earlier try may have stored after all (for a POST that has no idempotency
 * key), so it is not created twice.
 */
async function postRetrying(
  api: ReturnType<typeof apiClient>,
  path: string,
  body: unknown,
  stored?: () => Promise<Json | undefined>,
): Promise<Json> {
  for (let attempt = 1; ; attempt++) {
    const reply = await api.post(path, body);
    if ((reply.status !== 503 && reply.status !== 429) || attempt >= 8) return reply;
    await sleep(Math.min(5, Number(reply.headers.get("retry-after") ?? 1)) * 1000);
    const found = await stored?.();
    if (found) return { status: 201, headers: reply.headers, body: found };
  }
}

/** Runs `count` calls, `width` at a time. */
async function inBatches<T>(count: number, width: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += width) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(width, count - i) }, (_, j) => call(i + j)))));
  }
  return out;
}

async function listAll(api: ReturnType<typeof apiClient>, path: string): Promise<Json[]> {
  const items: Json[] = [];
  let cursor: string | null = null;
  do {
    const reply: Json = await api.get(
      `${path}${path.includes("?") ? "&" : "?"}limit=100${cursor ? `&cursor=${cursor}` : ""}`,
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    items.push(...reply.body.items);
    cursor = reply.body.nextCursor;
  } while (cursor);
  return items;
}

/**
 * One drill: 3,000 tasks (in-process and remote agents) and 20 plans across both, then the kills, then every
 * task and plan checked against what the handlers recorded.
 */
async function drill(faults: { runtimeKills: number; killWorker: boolean }) {
  const dir = mkdtempSync(join(tmpdir(), "nexus-drill-"));
  dirs.push(dir);
  const port = String(await freePort());
  const adminKey = Keys.generate().token;
  const runtimeLog = join(dir, "runtime-executions.log");
  const workerLog = join(dir, "worker-executions.log");
  const runtimeEnv = {
    DRILL_DIR: join(dir, "data"),
    DRILL_PORT: port,
    DRILL_ADMIN_KEY: adminKey,
    DRILL_LOG: runtimeLog,
  };
  let runtime = await launch(RUNTIME, runtimeEnv);
  const api = apiClient(runtime.info.url, adminKey);

  const remoteId = "remote-drill";
  const registered = await api.post("/v1/agents", {
    name: remoteId,
    actions: [
      {
        name: "work",
        params: { type: "object", properties: { ms: { type: "integer" }, n: { type: "integer" } }, required: ["ms"] },
        retry: { maxAttempts: 10, backoffSeconds: 1, maxBackoffSeconds: 2 },
      },
    ],
  });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  const key = await api.post("/v1/keys", { name: "drill-worker", role: "agent", agentId: remoteId });
  const workerEnv = {
    DRILL_URL: runtime.info.url,
    DRILL_KEY: key.body.key,
    DRILL_AGENT: remoteId,
    DRILL_LOG: workerLog,
  };
  let worker = await launch(WORKER, workerEnv);

  // Plans last: their steps queue behind the tasks, so they are in flight when the kills come.
  // Sent as a client should under load: a task with an idempotency key, a plan found by its name before it is sent
  // again (postRetrying).
  const submitted = await inBatches(LOCAL_TASKS + REMOTE_TASKS, 50, (n) =>
    postRetrying(api, "/v1/tasks", {
      agentId: n % 3 === 2 ? remoteId : "drill",
      action: "work",
      params: { ms: 100 + (n % 7) * 20, n },
      idempotencyKey: `drill-${n}`,
    }),
  );
  const plans = await inBatches(PLANS, 10, (n) =>
    postRetrying(
      api,
      "/v1/plans",
      {
        name: `drill-${n}`,
        steps: [
          { id: "a", agentId: "drill", action: "work", params: { ms: 150, n } },
          { id: "b", agentId: remoteId, action: "work", params: { ms: 150, n }, dependsOn: ["a"] },
          { id: "c", agentId: "drill", action: "work", params: { ms: 150, n }, dependsOn: ["b"] },
        ],
      },
      async () => (await listAll(api, "/v1/plans")).find((plan) => plan.name === `drill-${n}`),
    ),
  );
  for (const reply of [...plans, ...submitted]) {
    expect(reply.status, `${JSON.stringify(reply.body)}\nthe runtime's last output:\n${runtime.tail()}`).toBeLessThan(
      300,
    );
  }

  // The kills, mid-batch: work has been done and much is still queued or running. The first comes while an execution
  // is under way (started, not ended), so it cuts one off: on a slow machine the queue may have drained by then.
  await until("work under way", () => ends(runtimeLog) >= 300, 60_000);
  for (let k = 0; k < faults.runtimeKills; k++) {
    if (k > 0) await sleep(3000);
    else await until("an execution under way", () => inFlight(runtimeLog) > 0, 60_000, 5);
    await kill(runtime.child);
    runtime = await launch(RUNTIME, runtimeEnv);
  }
  if (faults.killWorker) {
    const before = ends(workerLog);
    await until("the worker at work", () => ends(workerLog) >= before + 100, 60_000);
    await kill(worker.child);
    worker = await launch(WORKER, workerEnv);
  }

  // Everything finishes within two minutes of the last restart (the remote worker's share, 1,000 tasks at 10 at a
  // time, waits out the leases its killed process held; on a busy machine that alone took most of a minute).
  let unfinished: Json[] = [];
  const open = async () => {
    unfinished = [];
    for (const status of ["queued", "running"]) {
      const page = await api.get(`/v1/tasks?status=${status}&limit=3`);
      unfinished.push(...page.body.items);
    }
    for (const status of ["pending", "running", "waiting_approval"]) {
      const page = await api.get(`/v1/plans?status=${status}&limit=3`);
      unfinished.push(...page.body.items);
    }
    return unfinished.length > 0;
  };
  await until("every task and plan finished", async () => !(await open()), 120_000).catch(async (error: Error) => {
    const details = await Promise.all(
      unfinished.map(async (item) =>
        item.id.startsWith("pln_")
          ? (await api.get(`/v1/plans/${item.id}`)).body
          : (await api.get(`/v1/tasks/${item.id}`)).body,
      ),
    );
    throw new Error(`${error.message}; still open: ${JSON.stringify(details)}`);
  });

  const tasks = [
    ...(await listAll(api, "/v1/tasks?agentId=drill")),
    ...(await listAll(api, `/v1/tasks?agentId=${remoteId}`)),
  ];
  const ids = new Set(submitted.map((r) => r.body.id));
  const planTasks = tasks.filter((t) => t.planId);
  expect(tasks.filter((t) => ids.has(t.id))).toHaveLength(LOCAL_TASKS + REMOTE_TASKS); // zero lost
  expect(planTasks).toHaveLength(PLANS * 3);

  const recorded = new Map<string, ReturnType<typeof executions>>();
  for (const e of [...executions(runtimeLog), ...executions(workerLog)]) {
    recorded.set(e.taskId, [...(recorded.get(e.taskId) ?? []), e]);
  }
  let duplicates = 0;
  for (const task of tasks) {
    const where = `task ${task.id}: ${JSON.stringify(task.events)}`;
    expect(task.status, where).toBe("succeeded"); // zero failed, by recovery or otherwise
    const events: Json[] = task.events;
    expect(
      events.filter((e) => e.type === "succeeded"),
      where,
    ).toHaveLength(1); // zero succeeded twice
    expect(task.result, where).toEqual({ attempt: task.attempts });
    const starts = (recorded.get(task.id) ?? []).filter((e) => e.kind === "start").map((e) => e.attempt);
    // Each execution is an attempt of its own: an attempt never ran twice.
    expect(new Set(starts).size, where).toBe(starts.length);
    expect(starts, where).toContain(task.attempts);
    // Every earlier attempt ended because its worker was lost (killed, or its lease ran out), and says so.
    for (const attempt of starts.filter((a) => a !== task.attempts)) {
      duplicates++;
      expect(
        events.some((e) => e.type === "requeued" && e.attempt === attempt),
        where,
      ).toBe(true);
    }
    expect(
      events.filter((e) => e.type === "attempt_failed" || e.type === "failed"),
      where,
    ).toEqual([]);
  }
  for (const reply of plans) {
    const plan = (await api.get(`/v1/plans/${reply.body.id}`)).body;
    expect(plan.status, JSON.stringify(plan.error)).toBe("succeeded");
    expect(plan.events.filter((e: Json) => e.type === "succeeded")).toHaveLength(1);
    expect(plan.steps.map((s: Json) => s.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
  }
  await kill(worker.child);
  await kill(runtime.child);
  return { duplicates, recovery: runtime.info.recovery };
}

describe("fault drill: kill -9 mid-batch, 3,000 tasks and 20 plans in flight", () => {
  it("the runtime killed once, and the remote worker killed separately: nothing lost, failed or done twice", async () => {
    const outcome = await drill({ runtimeKills: 1, killWorker: true });
    // The kills came mid-batch: attempts were cut off (and explained), tasks were put back, plans resumed.
    expect(outcome.duplicates).toBeGreaterThan(0);
    expect(outcome.recovery.tasks.requeued).toBeGreaterThan(0);
    expect(outcome.recovery.plans.resumed).toBeGreaterThan(0);
  }, 400_000);

  it("the runtime killed three times a few seconds apart: nothing lost, failed or done twice", async () => {
    const outcome = await drill({ runtimeKills: 3, killWorker: false });
    expect(outcome.duplicates).toBeGreaterThan(0);
    expect(outcome.recovery.tasks.requeued).toBeGreaterThan(0);
  }, 400_000);
});
