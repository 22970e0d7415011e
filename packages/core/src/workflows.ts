import type { SFNClient } from "@aws-sdk/client-sfn";
import { type ClientSource, withSdk } from "./lazy.js";

/** The Step Functions SDK, imported with the first call: most invocations start, stop or report no plan. */
const sdk = () => import("./sdk/sfn.js");

/**
 * The plan state machine, through the Step Functions API (in AWS, and locally the loopback endpoint that runs
 * the same definition). Token calls for an execution that has ended are not errors here: a late report
 * for a stopped plan has nobody to tell.
 */
export interface Workflows {
  /** Absent where no plan may be started (an agent's function). */
  stateMachineArn?: string;
  start(name: string, input: unknown): Promise<string>;
  stop(executionArn: string, error: string, cause: string): Promise<void>;
  succeed(token: string, output: unknown): Promise<boolean>;
  fail(token: string, error: string, cause: string): Promise<boolean>;
  heartbeat(token: string): Promise<boolean>;
  /** An execution's state; undefined when no such execution exists. */
  describe(executionArn: string): Promise<ExecutionState | undefined>;
}

export interface ExecutionState {
  status: "RUNNING" | "SUCCEEDED" | "FAILED" | "ABORTED" | "TIMED_OUT" | "PENDING_REDRIVE";
  error?: string;
  cause?: string;
  stopDate?: Date;
}

/** The ARN of a Standard workflow's execution, from its state machine's ARN and the execution's name. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
}

/** Errors that mean the token's task or execution is over. */
const GONE = new Set(["TaskTimedOut", "TaskDoesNotExist", "InvalidToken", "ExecutionDoesNotExist"]);

async function unlessGone(call: Promise<unknown>): Promise<boolean> {
  try {
    await call;
    return true;
  } catch (error) {
    if (error instanceof Error && GONE.has(error.name)) return false;
    throw error;
  }
}

/** Step Functions limits `error` to 256 characters and `cause` to 32,768. */
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Step Functions through `client` (or the one its factory makes on first use). */
export function stepFunctions(client: ClientSource<SFNClient>, stateMachineArn?: string): Workflows {
  const loaded = withSdk(sdk, client);
  return {
    ...(stateMachineArn ? { stateMachineArn } : {}),
    async start(name, input) {
      if (!stateMachineArn) throw new Error("no plan state machine is configured (NEXUS_STATE_MACHINE_ARN)");
      const [{ StartExecutionCommand }, sfn] = await loaded();
      const out = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
      return out.executionArn ?? "";
    },
    async stop(executionArn, error, cause) {
      const [{ StopExecutionCommand }, sfn] = await loaded();
      try {
        await sfn.send(new StopExecutionCommand({ executionArn, error: clip(error, 256), cause: clip(cause, 32_768) }));
      } catch (e) {
        if (!(e instanceof Error && GONE.has(e.name))) throw e;
      }
    },
    async succeed(token, output) {
      const [{ SendTaskSuccessCommand }, sfn] = await loaded();
      return unlessGone(
        sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output ?? {}) })),
      );
    },
    async fail(token, error, cause) {
      const [{ SendTaskFailureCommand }, sfn] = await loaded();
      return unlessGone(
        sfn.send(new SendTaskFailureCommand({ taskToken: token, error: clip(error, 256), cause: clip(cause, 32_768) })),
      );
    },
    async heartbeat(token) {
      const [{ SendTaskHeartbeatCommand }, sfn] = await loaded();
      return unlessGone(sfn.send(new SendTaskHeartbeatCommand({ taskToken: token })));
    },
    async describe(executionArn) {
      const [{ DescribeExecutionCommand }, sfn] = await loaded();
      try {
        const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        return {
          status: (out.status ?? "RUNNING") as ExecutionState["status"],
          ...(out.error ? { error: out.error } : {}),
          ...(out.cause ? { cause: out.cause } : {}),
          ...(out.stopDate ? { stopDate: out.stopDate } : {}),
        };
      } catch (error) {
        if (error instanceof Error && error.name === "ExecutionDoesNotExist") return undefined;
        throw error;
      }
    },
  };
}
