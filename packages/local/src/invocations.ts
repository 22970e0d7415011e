import { AsyncSlot } from "@nexus/core/async-slot";

/**
 * Which function's code is running, as Lambda would know it: locally every function runs in this one process with
 * shared clients, so the runtime marks each invocation (an API request, an agent's batch and its queue's polling, a
 * plan runner task, a sweep, a probe, a failures pass, a schedule tick) with the function that runs it in AWS. A tool
 * that watches the AWS SDK calls (the IAM parity test) reads it to know whose role a call would be made with.
 */
export type FunctionName =
  | "api"
  | "plans"
  | "schedule"
  | "sweeper"
  | "failures"
  | "probe"
  /** A built-in agent's consumer: its batches and (as Lambda's event source mapping does, with its role) its polling. */
  | `agent:${string}`
  /** A custom agent's in-process worker (tests): no function runs it in AWS. */
  | `worker:${string}`;

const running = new AsyncSlot<FunctionName>();

/** Runs `work` as an invocation of `fn`: what it starts (promises, timers) counts as `fn`'s too. */
export const invoking = <T>(fn: FunctionName, work: () => T): T => running.run(fn, work);

/** The function whose invocation is running; undefined for the runtime's own start-up and recovery. */
export const runningFunction = (): FunctionName | undefined => running.getStore();
