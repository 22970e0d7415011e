import { randomBytes } from "node:crypto";
import type { Logger } from "@nexus/core";
import { AwsProtocolError, startAwsJsonServer } from "./aws-json-server.js";
import type { Emulator } from "./emulators.js";

// aws-local-stepfunctions 3 uses Promise.withResolvers (Node 22); Node 20 lacks it.
if (!("withResolvers" in Promise)) {
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    value: <T>() => {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
const { StateMachine } = await import("aws-local-stepfunctions");
type Definition = ConstructorParameters<typeof StateMachine>[0];

const ACCOUNT = "123456789012";
const REGION = "us-east-1";
/** What `$$.Task.Token` resolves to in Parameters; each waiting state swaps in a token of its own. */
const TOKEN_PLACEHOLDER = "local-task-token";

type ExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "ABORTED" | "TIMED_OUT";

interface Execution {
  arn: string;
  name: string;
  input: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate?: number;
  output?: string;
  error?: string;
  cause?: string;
  /** States entered, nested Map iterations included: what Standard workflows bill. */
  transitions: number;
  /** Invocations of the Lambda function its Task states call, and their time (ms). */
  invocations: number;
  invokeMs: number;
  /** Estimated bytes its history would log to CloudWatch Logs (see {@link LOG_ENVELOPE_BYTES}). */
  logBytes: number;
  abort: () => void;
  done: Promise<void>;
}

interface Waiter {
  executionArn: string;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  /** The state's heartbeat (ms), if it has one: silent that long, the state fails with States.HeartbeatTimeout. */
  heartbeatMs?: number;
  timer?: NodeJS.Timeout;
}

/** What an execution has used so far (for benchmarks and the cost estimate). */
export interface ExecutionUsage {
  /** States entered, nested Map iterations included: what Standard workflows bill. */
  transitions: number;
  /** Invocations of the state machine's Lambda function, and their time (ms). */
  invocations: number;
  invokeMs: number;
  /**
   * Bytes its history would log with the stack's logging (level ALL, execution data included), estimated: each
   * event this emulator emits (state entered and exited, Map iterations, the execution's start and end) as JSON with
   * its input or output, plus {@link LOG_ENVELOPE_BYTES}; each Task state adds the three events Step Functions logs
   * besides (scheduled, started, succeeded or submitted), envelopes only.
   */
  logBytes: number;
}

/** What Step Functions adds to each logged history event (ids, type, timestamps, the execution's ARN), estimated. */
export const LOG_ENVELOPE_BYTES = 250;

export interface LocalStepFunctions extends Emulator {
  stateMachineArn: string;
  /** State transitions of an execution so far (for benchmarks). */
  transitions(executionArn: string): number | undefined;
  /** Transitions, invocations and log bytes of an execution so far (for benchmarks). */
  usage(executionArn: string): ExecutionUsage | undefined;
  /** Resolves when the execution has ended. */
  settled(executionArn: string): Promise<void>;
  /** Executions held now: every running one, and the most recent finished ones up to the bound. */
  held(): { running: number; finished: number };
}

/**
 * Finished executions kept for DescribeExecution (the sweeper settles a plan whose execution ended without settling
 * it, within seconds locally); older ones are forgotten, as a restart forgets them all, so a long-running `npm run dev`
 * does not hold every plan run it ever ran.
 */
export const MAX_FINISHED_EXECUTIONS = 1000;

/** A named error as Step Functions reports it to Catch: `Error` is the name, `Cause` the message. */
class TaskFailure extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** A Task state, as far as this endpoint reads or rewrites it. */
interface TaskState {
  Type: "Task";
  Resource: string;
  Parameters?: Record<string, unknown>;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number;
  HeartbeatSecondsPath?: string;
}

/** Every Task state of a definition (nested Map and Parallel ones too), by name. */
function taskStates(definition: Definition): Array<[string, TaskState]> {
  const found: Array<[string, TaskState]> = [];
  const walk = (states: Record<string, unknown>) => {
    for (const [name, raw] of Object.entries(states)) {
      const state = raw as {
        Type: string;
        Resource?: string;
        ItemProcessor?: { States: Record<string, unknown> };
        Iterator?: { States: Record<string, unknown> };
        Branches?: Array<{ States: Record<string, unknown> }>;
      };
      if (state.Type === "Task" && state.Resource) found.push([name, state as TaskState]);
      const nested = state.ItemProcessor ?? state.Iterator;
      if (nested) walk(nested.States);
      for (const branch of state.Branches ?? []) walk(branch.States);
    }
  };
  walk(definition.States as Record<string, unknown>);
  return found;
}

/** The Parameters field that carries a Task state's timeout, read from its input, to the interpreter. */
const TIMEOUT_FROM_INPUT = "LocalTimeoutSecondsFromInput";
/** The Parameters field that carries a Task state's heartbeat, read from its input, to this endpoint's waits. */
const HEARTBEAT_FROM_INPUT = "LocalHeartbeatSecondsFromInput";

/**
 * The definition as the interpreter must run it to time Task states as Step Functions does. Step Functions resolves
 * `TimeoutSecondsPath` against the state's input; aws-local-stepfunctions resolves it against the effective
 * Parameters, where the same path may name another value or none. So each such state's Parameters also carry the
 * path's value from the input (as {@link TIMEOUT_FROM_INPUT}), and the state reads its timeout there; the Lambda
 * payload is unchanged (the handlers read `Payload` only). The interpreter has no heartbeats: a waiting state's
 * `HeartbeatSecondsPath` is carried the same way ({@link HEARTBEAT_FROM_INPUT}), for this endpoint's own clock.
 */
function withTimeoutsFromInput(definition: Definition): Definition {
  const copy = structuredClone(definition);
  for (const [, state] of taskStates(copy)) {
    if (!state.Parameters) continue;
    if (state.TimeoutSecondsPath) {
      state.Parameters[`${TIMEOUT_FROM_INPUT}.$`] = state.TimeoutSecondsPath;
      state.TimeoutSecondsPath = `$.${TIMEOUT_FROM_INPUT}`;
    }
    if (state.HeartbeatSecondsPath) state.Parameters[`${HEARTBEAT_FROM_INPUT}.$`] = state.HeartbeatSecondsPath;
  }
  return copy;
}

/**
 * Step Functions on 127.0.0.1: a loopback endpoint speaking its JSON protocol (StartExecution,
 * StopExecution, DescribeExecution, SendTaskSuccess/Failure/Heartbeat) over `aws-local-stepfunctions`, which
 * runs the very ASL the stack deploys. Its Lambda tasks are overridden by state name with `invoke`, the same
 * handler the stack's function runs; `.waitForTaskToken` states wait for a token of their own.
 */
export async function startStepFunctions(options: {
  /** The state machine's definition (ASL), placeholders substituted. */
  definition: Record<string, unknown>;
  stateMachineName: string;
  /** What the state machine's Lambda function does with a payload. */
  invoke: (payload: Record<string, unknown>) => Promise<unknown>;
  logger: Logger;
  /** Finished executions kept (default {@link MAX_FINISHED_EXECUTIONS}); the oldest go first. */
  maxFinished?: number;
}): Promise<LocalStepFunctions> {
  const stateMachineArn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${options.stateMachineName}`;
  const executions = new Map<string, Execution>();
  /** The finished executions' ARNs, oldest first. */
  const finished: string[] = [];
  const maxFinished = options.maxFinished ?? MAX_FINISHED_EXECUTIONS;
  const waiters = new Map<string, Waiter>();
  const definition = options.definition as unknown as Definition;
  const machine = new StateMachine(withTimeoutsFromInput(definition), { validationOptions: { checkArn: false } });

  /** The Lambda function's handler, its invocations counted and timed on the execution. */
  const invoke = async (executionArn: string, payload: Record<string, unknown>) => {
    const execution = executions.get(executionArn);
    const started = performance.now();
    try {
      return await options.invoke(payload);
    } finally {
      if (execution) {
        execution.invocations++;
        execution.invokeMs += performance.now() - started;
      }
    }
  };

  /** A waiter answered or gone: it is forgotten and its heartbeat clock stopped. */
  const forget = (token: string, waiter: Waiter) => {
    if (waiters.get(token) === waiter) waiters.delete(token);
    clearTimeout(waiter.timer);
  };
  /** (Re)starts a waiter's heartbeat clock, as the state's start and each SendTaskHeartbeat do in Step Functions. */
  const beat = (token: string, waiter: Waiter) => {
    if (!waiter.heartbeatMs) return;
    clearTimeout(waiter.timer);
    waiter.timer = setTimeout(() => {
      if (waiters.get(token) !== waiter) return;
      forget(token, waiter);
      waiter.reject(new TaskFailure("States.HeartbeatTimeout", "no heartbeat within the state's HeartbeatSeconds"));
    }, waiter.heartbeatMs);
    waiter.timer.unref();
  };

  const overridesFor = (executionArn: string) => {
    const handlers: Record<string, (input: unknown) => Promise<never>> = {};
    for (const [name, state] of taskStates(definition)) {
      const waits = state.Resource.endsWith(".waitForTaskToken");
      handlers[name] = async (input: unknown) => {
        const payload = { ...((input as { Payload?: Record<string, unknown> }).Payload ?? {}) };
        if (!waits) return { Payload: (await invoke(executionArn, payload)) ?? null, StatusCode: 200 } as never;
        const token = `${executionArn.split(":").pop()}.${randomBytes(24).toString("base64url")}`;
        const heartbeatSeconds = Number(
          (input as Record<string, unknown>)[HEARTBEAT_FROM_INPUT] ?? state.HeartbeatSeconds ?? Number.NaN,
        );
        const outcome = new Promise<never>((resolve, reject) => {
          const waiter: Waiter = { executionArn, resolve: resolve as (output: unknown) => void, reject };
          if (heartbeatSeconds > 0) waiter.heartbeatMs = heartbeatSeconds * 1000;
          waiters.set(token, waiter);
          beat(token, waiter);
        });
        // The token may be answered while the invocation still runs (a step that fails at dispatch): the outcome is
        // handled when it is returned, and must not count as an unhandled rejection meanwhile.
        outcome.catch(() => undefined);
        try {
          await invoke(executionArn, {
            ...payload,
            token: payload.token === TOKEN_PLACEHOLDER ? token : payload.token,
          });
        } catch (error) {
          const waiter = waiters.get(token);
          if (waiter) forget(token, waiter);
          throw error;
        }
        return outcome;
      };
    }
    return handlers;
  };

  const start = (name: string, input: string): Execution => {
    const arn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${options.stateMachineName}:${name}`;
    const run = machine.run(JSON.parse(input), {
      overrides: { taskResourceLocalHandlers: overridesFor(arn) },
      context: {
        Execution: { Id: arn, Name: name },
        StateMachine: { Id: stateMachineArn, Name: options.stateMachineName },
        Task: { Token: TOKEN_PLACEHOLDER },
      },
    });
    const execution: Execution = {
      arn,
      name,
      input,
      status: "RUNNING",
      startDate: Date.now() / 1000,
      transitions: 0,
      invocations: 0,
      invokeMs: 0,
      logBytes: 0,
      abort: run.abort,
      done: Promise.resolve(),
    };
    void (async () => {
      for await (const event of run.eventLogs) {
        if (event.type === "StateEntered") execution.transitions++;
        const taskState = event.type === "StateEntered" && event.state.type === "Task";
        execution.logBytes += Buffer.byteLength(JSON.stringify(event)) + LOG_ENVELOPE_BYTES * (taskState ? 4 : 1);
      }
    })().catch(() => undefined);
    execution.done = run.result.then(
      (output) => {
        if (execution.status === "RUNNING") {
          execution.status = "SUCCEEDED";
          execution.output = JSON.stringify(output);
        }
      },
      (error: unknown) => {
        if (execution.status !== "RUNNING") return;
        const failure = (error as { cause?: unknown }).cause ?? error;
        const name = (error as Error).name;
        execution.status = name === "ExecutionTimeoutError" ? "TIMED_OUT" : "FAILED";
        execution.error = (failure as Error).name;
        execution.cause = (failure as Error).message;
      },
    );
    void execution.done.finally(() => {
      execution.stopDate ??= Date.now() / 1000;
      for (const [token, waiter] of waiters) {
        if (waiter.executionArn === arn) forget(token, waiter);
      }
      finished.push(arn);
      while (finished.length > maxFinished) executions.delete(finished.shift() as string);
      options.logger.debug("execution ended", { executionArn: arn, status: execution.status });
    });
    executions.set(arn, execution);
    return execution;
  };

  const executionOf = (arn: unknown) => {
    const execution = typeof arn === "string" ? executions.get(arn) : undefined;
    if (!execution) throw new AwsProtocolError("ExecutionDoesNotExist", `execution does not exist: ${String(arn)}`);
    return execution;
  };
  const waiterOf = (token: unknown) => {
    const waiter = typeof token === "string" ? waiters.get(token) : undefined;
    if (waiter) return { token: token as string, waiter };
    if (typeof token !== "string" || !token.includes(".")) throw new AwsProtocolError("InvalidToken", "invalid token");
    throw new AwsProtocolError("TaskTimedOut", "Task Timed Out: the task or its execution has ended");
  };

  const server = await startAwsJsonServer({
    targetPrefix: "AWSStepFunctions",
    contentType: "application/x-amz-json-1.0",
    actions: {
      StartExecution: (input) => {
        if (input.stateMachineArn !== stateMachineArn) {
          throw new AwsProtocolError(
            "StateMachineDoesNotExist",
            `state machine does not exist: ${input.stateMachineArn}`,
          );
        }
        const name = typeof input.name === "string" ? input.name : randomBytes(16).toString("hex");
        const text = typeof input.input === "string" ? input.input : "{}";
        const arn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${options.stateMachineName}:${name}`;
        const earlier = executions.get(arn);
        if (earlier) {
          // Standard workflows: the same name and input while it runs is the same execution.
          if (earlier.status === "RUNNING" && earlier.input === text) {
            return { executionArn: arn, startDate: earlier.startDate };
          }
          throw new AwsProtocolError("ExecutionAlreadyExists", `execution already exists: ${arn}`);
        }
        const execution = start(name, text);
        return { executionArn: execution.arn, startDate: execution.startDate };
      },
      StopExecution: (input) => {
        const execution = executionOf(input.executionArn);
        if (execution.status === "RUNNING") {
          execution.status = "ABORTED";
          execution.error = typeof input.error === "string" ? input.error : undefined;
          execution.cause = typeof input.cause === "string" ? input.cause : undefined;
          execution.stopDate = Date.now() / 1000;
          execution.abort();
        }
        return { stopDate: execution.stopDate };
      },
      DescribeExecution: (input) => {
        const e = executionOf(input.executionArn);
        return {
          executionArn: e.arn,
          stateMachineArn,
          name: e.name,
          status: e.status,
          startDate: e.startDate,
          stopDate: e.stopDate,
          input: e.input,
          output: e.output,
          error: e.error,
          cause: e.cause,
        };
      },
      SendTaskSuccess: (input) => {
        const { token, waiter } = waiterOf(input.taskToken);
        forget(token, waiter);
        waiter.resolve(JSON.parse(typeof input.output === "string" ? input.output : "null"));
        return {};
      },
      SendTaskFailure: (input) => {
        const { token, waiter } = waiterOf(input.taskToken);
        forget(token, waiter);
        const error = typeof input.error === "string" && input.error ? input.error : "States.TaskFailed";
        waiter.reject(new TaskFailure(error, typeof input.cause === "string" ? input.cause : ""));
        return {};
      },
      SendTaskHeartbeat: (input) => {
        const { token, waiter } = waiterOf(input.taskToken);
        beat(token, waiter);
        return {};
      },
    },
  });

  return {
    ...server,
    stateMachineArn,
    transitions: (arn) => executions.get(arn)?.transitions,
    usage: (arn) => {
      const execution = executions.get(arn);
      if (!execution) return undefined;
      const { transitions, invocations, invokeMs, logBytes } = execution;
      return { transitions, invocations, invokeMs, logBytes };
    },
    settled: (arn) => executions.get(arn)?.done ?? Promise.resolve(),
    held: () => ({ running: executions.size - finished.length, finished: finished.length }),
    stop: async () => {
      for (const execution of executions.values()) {
        if (execution.status === "RUNNING") {
          execution.status = "ABORTED";
          execution.abort();
        }
      }
      await Promise.all([...executions.values()].map((e) => e.done.catch(() => undefined)));
      await server.stop();
    },
  };
}
