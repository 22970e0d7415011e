import { setTimeout as sleep } from "node:timers/promises";
import { AttemptLog, type LogSink, type TaskLogger } from "./attempt-log.js";
import { isLeaseLost, NexusApiError, NexusClient } from "./client.js";
import type { ClaimedTask, FailureInput } from "./types.js";

/** What a handler gets besides the params. */
export interface TaskContext {
  taskId: string;
  action: string;
  /** This attempt's number, from 1. */
  attempt: number;
  maxAttempts: number;
  /** Aborted when the lease is lost (it ran out, or the task was cancelled): the result would not count. */
  signal: AbortSignal;
  /** When the lease runs out now (it is extended while the handler runs). */
  leaseUntil(): string;
  /**
   * Logs a line kept with this attempt: sent with its outcome, it is the attempt's log at `GET /v1/tasks/{id}/logs`
   * and on the dashboard's task page (the newest 200 lines within 64 KB; secrets redacted by Nexus on receipt).
   */
  log: TaskLogger;
}

/** Runs one action. Its return value (JSON) is the task's result; throwing fails the attempt (see {@link TaskFailure}). */
export type TaskHandler = (params: unknown, context: TaskContext) => unknown;

/**
 * An error a handler throws to say how the attempt failed: `retriable: false` fails the task at once,
 * otherwise it is retried with backoff while attempts are left. Any error with a string `code` and/or a
 * boolean `retriable` property is read the same way; other errors are retriable `handler_error`s.
 */
export class TaskFailure extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "TaskFailure";
    this.code = code;
    this.retriable = options.retriable ?? true;
  }
}

export type WorkerStage = "claim" | "extend" | "complete" | "fail" | "heartbeat";

export interface NexusWorkerOptions {
  url: string;
  /** A key with role `agent` for this agent (or an admin key). */
  key: string;
  agentId: string;
  /** A handler per action name. A task whose action has none fails at once (`unknown_action`). */
  handlers: Record<string, TaskHandler>;
  /** Tasks run at once, 1 to 10 (default 1). */
  concurrency?: number;
  /** Lease per claim and per extension, 10 to 900 s (default 60); extended every third of it. */
  leaseSeconds?: number;
  /** Long-poll wait per claim, 0 to 20 s (default 20). */
  waitSeconds?: number;
  /**
   * A heartbeat every this many seconds (10 to 86,400; default 60; 0: none) with the load and the outcomes
   * since the last one, so the agent shows as online while the worker runs.
   */
  heartbeatSeconds?: number;
  /** Reported with each heartbeat. */
  version?: string;
  /** Backoff after network and server errors: from `initialMs` (500), doubling, up to `maxMs` (30 s). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Where each attempt's lines are also written as they happen (e.g. `console`); by default only sent to Nexus. */
  logger?: LogSink;
  /** Told of every error the loop handles itself (the worker never writes to the console). */
  onError?: (error: unknown, info: { stage: WorkerStage; taskId?: string }) => void;
  fetch?: typeof fetch;
}

type Outcome = { ok: true; result: unknown } | { ok: false; error: FailureInput };

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, Math.round(value)));
const transient = (error: unknown) => !(error instanceof NexusApiError) || error.transient;

/** The error a handler threw, as the API records it. */
function failureOf(error: unknown): FailureInput {
  const fields = (typeof error === "object" && error !== null ? error : {}) as { code?: unknown; retriable?: unknown };
  const code = typeof fields.code === "string" ? fields.code.replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 100) : "";
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: code || "handler_error",
    message: message.slice(0, 2000),
    retriable: typeof fields.retriable === "boolean" ? fields.retriable : true,
  };
}

/**
 * A remote worker for one custom agent: claims its tasks over HTTPS (long poll), runs each with its handler,
 * keeps the lease alive while the handler runs, and reports the result or the failure. Network and server
 * errors back off and retry; a lost lease drops the task (its next attempt runs elsewhere).
 *
 * ```ts
 * const worker = new NexusWorker({ url, key, agentId: "billing", handlers: { charge: async (params) => … } });
 * worker.start();
 * process.on("SIGTERM", () => worker.stop());
 * ```
 */
export class NexusWorker {
  private readonly client: NexusClient;
  private readonly concurrency: number;
  private readonly leaseSeconds: number;
  private readonly waitSeconds: number;
  private readonly inFlight = new Map<string, Promise<void>>();
  private loop: Promise<void> | undefined;
  private stopping = new AbortController();
  private heartbeats: NodeJS.Timeout | undefined;
  /** Outcomes since the last heartbeat that got through. */
  private outcomes = { done: 0, failed: 0, lastSuccess: undefined as { taskId: string; at: string } | undefined };

  constructor(private readonly options: NexusWorkerOptions) {
    this.client = new NexusClient({
      url: options.url,
      key: options.key,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.concurrency = clamp(options.concurrency ?? 1, 1, 10);
    this.leaseSeconds = clamp(options.leaseSeconds ?? 60, 10, 900);
    this.waitSeconds = clamp(options.waitSeconds ?? 20, 0, 20);
  }

  /** Whether the worker is claiming tasks. */
  get running(): boolean {
    return this.loop !== undefined && !this.stopping.signal.aborted;
  }

  /** Tasks being run now. */
  get active(): number {
    return this.inFlight.size;
  }

  /** Starts claiming and running tasks (in the background). */
  start(): void {
    if (this.loop) throw new Error("this worker was started already");
    this.loop = this.claimLoop();
    const every = this.options.heartbeatSeconds ?? 60;
    if (every > 0) {
      const intervalSeconds = clamp(every, 10, 86_400);
      void this.heartbeat(intervalSeconds);
      this.heartbeats = setInterval(() => void this.heartbeat(intervalSeconds), intervalSeconds * 1000);
      this.heartbeats.unref();
    }
  }

  /** Stops claiming, then waits for the tasks in flight to finish and be reported. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.heartbeats);
    await this.loop;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  private report(error: unknown, stage: WorkerStage, taskId?: string) {
    this.options.onError?.(error, { stage, ...(taskId ? { taskId } : {}) });
  }

  private async heartbeat(intervalSeconds: number) {
    const { done, failed, lastSuccess } = this.outcomes;
    try {
      await this.client.agents.heartbeat(this.options.agentId, {
        load: this.inFlight.size,
        done,
        failed,
        intervalSeconds,
        ...(lastSuccess ? { lastSuccess } : {}),
        ...(this.options.version ? { version: this.options.version } : {}),
      });
      this.outcomes.done -= done;
      this.outcomes.failed -= failed;
    } catch (error) {
      this.report(error, "heartbeat"); // the counts go with the next one
    }
  }

  /** Waits (unless stopping): the backoff before the n-th retry, ±20 % jitter. */
  private async backoff(failures: number) {
    const initial = this.options.backoff?.initialMs ?? 500;
    const max = this.options.backoff?.maxMs ?? 30_000;
    const ms = Math.min(max, initial * 2 ** (failures - 1)) * (0.8 + 0.4 * Math.random());
    await sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  private async claimLoop() {
    const stopping = this.stopping.signal;
    let failures = 0;
    while (!stopping.aborted) {
      const free = this.concurrency - this.inFlight.size;
      if (free <= 0) {
        await Promise.race([...this.inFlight.values()]);
        continue;
      }
      let tasks: ClaimedTask[];
      try {
        const claim = { max: free, waitSeconds: this.waitSeconds, leaseSeconds: this.leaseSeconds };
        ({ tasks } = await this.client.tasks.claim(this.options.agentId, claim, { signal: stopping }));
        failures = 0;
      } catch (error) {
        // Stopping aborts the long poll; a task claimed in that instant comes back when its lease runs out.
        if (stopping.aborted) break;
        this.report(error, "claim");
        await this.backoff(++failures);
        continue;
      }
      for (const task of tasks) {
        const running = this.run(task)
          .catch((error: unknown) => this.report(error, "complete", task.id))
          .finally(() => this.inFlight.delete(task.id));
        this.inFlight.set(task.id, running);
      }
    }
  }

  /** Runs one claimed task under its lease, then reports how it ended. */
  private async run(task: ClaimedTask) {
    const lost = new AbortController();
    let leaseUntil = task.leaseUntil;
    let extending: Promise<void> = Promise.resolve();
    const every = (this.leaseSeconds * 1000) / 3;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const schedule = () => {
      if (done) return;
      timer = setTimeout(() => {
        extending = this.client.tasks.extend(task.id, task.leaseToken, this.leaseSeconds).then(
          (lease) => {
            leaseUntil = lease.leaseUntil;
            schedule();
          },
          (error: unknown) => {
            this.report(error, "extend", task.id);
            if (isLeaseLost(error)) lost.abort(error);
            else schedule(); // the lease still has a third or more to run: try again at the next tick
          },
        );
      }, every);
    };
    schedule();

    let outcome: Outcome;
    const log = new AttemptLog(this.options.logger);
    const started = Date.now();
    log.write("info", `attempt ${task.attempt} of ${task.maxAttempts} started: ${task.action}`, { taskId: task.id });
    const handler = Object.hasOwn(this.options.handlers, task.action) ? this.options.handlers[task.action] : undefined;
    try {
      if (!handler) {
        throw new TaskFailure("unknown_action", `this worker has no handler for '${task.action}'`, {
          retriable: false,
        });
      }
      const context: TaskContext = {
        taskId: task.id,
        action: task.action,
        attempt: task.attempt,
        maxAttempts: task.maxAttempts,
        signal: lost.signal,
        leaseUntil: () => leaseUntil,
        log: log.logger,
      };
      const result = await handler(task.params, context);
      outcome = jsonResult(result);
    } catch (error) {
      outcome = { ok: false, error: failureOf(error) };
    } finally {
      done = true;
      clearTimeout(timer);
    }
    const ms = Date.now() - started;
    if (outcome.ok) log.write("info", `attempt ${task.attempt} succeeded in ${ms} ms`);
    else
      log.write("warn", `attempt ${task.attempt} failed in ${ms} ms: ${outcome.error.code}: ${outcome.error.message}`);
    await extending;
    if (lost.signal.aborted) return; // the task is no longer ours: nothing we report would count
    await this.deliver(task, outcome, () => leaseUntil, log);
  }

  /** Reports an outcome, retrying network and server errors while the lease lasts. */
  private async deliver(task: ClaimedTask, outcome: Outcome, leaseUntil: () => string, log: AttemptLog) {
    const logs = log.report();
    let current = outcome;
    for (let failures = 0; ; ) {
      const stage = current.ok ? "complete" : "fail";
      try {
        if (current.ok) {
          await this.client.tasks.complete(task.id, task.leaseToken, current.result, logs);
          this.outcomes.done++;
          this.outcomes.lastSuccess = { taskId: task.id, at: new Date().toISOString() };
        } else {
          await this.client.tasks.fail(task.id, task.leaseToken, current.error, logs);
          this.outcomes.failed++;
        }
        return;
      } catch (error) {
        this.report(error, stage, task.id);
        if (current.ok && error instanceof NexusApiError && error.code === "payload_too_large") {
          // As the Lambda worker does with a result that does not fit: the task fails, not retriable.
          current = { ok: false, error: { code: "result_too_large", message: error.message, retriable: false } };
          continue;
        }
        if (!transient(error) || Date.parse(leaseUntil()) <= Date.now()) return;
        await sleep(Math.min(5000, 250 * 2 ** failures++));
      }
    }
  }
}

/** A handler's return value as JSON (undefined → null); one that is not JSON fails the task, not retriable. */
function jsonResult(result: unknown): Outcome {
  try {
    return { ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
  } catch (error) {
    const message = `result is not JSON: ${(error as Error).message}`;
    return { ok: false, error: { code: "result_invalid", message, retriable: false } };
  }
}
