import {
  DescribeExecutionCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { createLogger } from "@nexus/core";
import { type LocalStepFunctions, startStepFunctions } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The local Step Functions endpoint holds every running execution and a bounded number of finished ones: a long-running
 * `npm run dev` does not keep every plan run it ever ran (each held its input, output and the interpreter's run).
 */
const KEPT = 3;
let sfn: LocalStepFunctions;
let client: SFNClient;
/** Executions whose input says `hold` wait in their Lambda task until released. */
const holds: Array<() => void> = [];

beforeAll(async () => {
  sfn = await startStepFunctions({
    definition: {
      StartAt: "Run",
      States: {
        Run: {
          Type: "Task",
          Resource: "arn:aws:states:::lambda:invoke",
          Parameters: { FunctionName: "arn:aws:lambda:us-east-1:123456789012:function:f", "Payload.$": "$" },
          End: true,
        },
      },
    },
    stateMachineName: "bounded",
    logger: createLogger("nexus-test", { level: "SILENT" }),
    invoke: async (payload) => {
      if (payload.hold) await new Promise<void>((release) => holds.push(release));
      return { done: payload.n };
    },
    maxFinished: KEPT,
  });
  client = clientOf(sfn);
});
afterAll(async () => {
  for (const release of holds) release();
  client?.destroy();
  await sfn?.stop();
});

/** An SDK client of a local endpoint. */
function clientOf(endpoint: LocalStepFunctions): SFNClient {
  return new SFNClient({
    region: "us-east-1",
    endpoint: endpoint.endpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

const start = async (name: string, input: Record<string, unknown>) =>
  (
    await client.send(
      new StartExecutionCommand({ stateMachineArn: sfn.stateMachineArn, name, input: JSON.stringify(input) }),
    )
  ).executionArn ?? "";
const status = async (executionArn: string) => {
  try {
    return (await client.send(new DescribeExecutionCommand({ executionArn }))).status;
  } catch (error) {
    return (error as Error).name;
  }
};

describe("the local Step Functions endpoint", () => {
  it("keeps every running execution and only the most recent finished ones", async () => {
    const running = await start("running", { hold: true });
    const arns: string[] = [];
    for (let n = 0; n < 10; n++) {
      const arn = await start(`run-${n}`, { n });
      await sfn.settled(arn);
      arns.push(arn);
      expect(sfn.held().finished).toBeLessThanOrEqual(KEPT);
    }
    expect(sfn.held()).toEqual({ running: 1, finished: KEPT });
    expect(await status(running)).toBe("RUNNING");
    for (const arn of arns.slice(-KEPT)) expect(await status(arn)).toBe("SUCCEEDED");
    for (const arn of arns.slice(0, -KEPT)) expect(await status(arn)).toBe("ExecutionDoesNotExist");

    // The held one finishes: it is now the most recent finished execution, and the oldest kept one goes.
    holds.shift()?.();
    await sfn.settled(running);
    expect(await status(running)).toBe("SUCCEEDED");
    expect(sfn.held()).toEqual({ running: 0, finished: KEPT });
    expect(await status(arns[arns.length - KEPT] ?? "")).toBe("ExecutionDoesNotExist");
  });
});

describe("Task state timeouts on the local Step Functions endpoint", () => {
  /**
   * Step Functions resolves `TimeoutSecondsPath` against the state's input (not its Parameters, where the same path
   * may hold another value): the interpreter underneath resolves it against the Parameters, so the endpoint runs the
   * definition rewritten to read it from the input, as AWS does.
   */
  let timed: LocalStepFunctions;
  let timedClient: SFNClient;
  beforeAll(async () => {
    timed = await startStepFunctions({
      definition: {
        StartAt: "Work",
        States: {
          Work: {
            Type: "Task",
            Resource: "arn:aws:states:::lambda:invoke",
            TimeoutSecondsPath: "$.limit",
            Parameters: {
              FunctionName: "arn:aws:lambda:us-east-1:123456789012:function:f",
              "Payload.$": "$.payload",
              "limit.$": "$.parameterLimit",
            },
            End: true,
          },
        },
      },
      stateMachineName: "timed",
      logger: createLogger("nexus-test", { level: "SILENT" }),
      invoke: async (payload) => {
        await new Promise((r) => setTimeout(r, Number(payload.ms)));
        return { slept: payload.ms };
      },
    });
    timedClient = clientOf(timed);
  });
  afterAll(async () => {
    timedClient?.destroy();
    await timed?.stop();
  });

  const run = async (name: string, input: Record<string, unknown>) => {
    const { executionArn = "" } = await timedClient.send(
      new StartExecutionCommand({ stateMachineArn: timed.stateMachineArn, name, input: JSON.stringify(input) }),
    );
    await timed.settled(executionArn);
    return timedClient.send(new DescribeExecutionCommand({ executionArn }));
  };

  it("reads TimeoutSecondsPath from the state input, as Step Functions does", async () => {
    const [shortInInput, longInInput] = await Promise.all([
      run("short", { limit: 1, parameterLimit: 30, payload: { ms: 2500 } }),
      run("long", { limit: 30, parameterLimit: 1, payload: { ms: 2500 } }),
    ]);
    expect(shortInInput).toMatchObject({ status: "FAILED", error: "States.Timeout" });
    expect(longInInput.status).toBe("SUCCEEDED");
    expect(JSON.parse(longInInput.output ?? "null")).toMatchObject({ Payload: { slept: 2500 } });
  });
});

describe("heartbeats on the local Step Functions endpoint", () => {
  /** A waiting state with a heartbeat read from its input; each invocation leaves its token here. */
  let beating: LocalStepFunctions;
  let beatClient: SFNClient;
  const tokens = new Map<string, string>();
  beforeAll(async () => {
    beating = await startStepFunctions({
      definition: {
        StartAt: "Wait",
        States: {
          Wait: {
            Type: "Task",
            Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
            TimeoutSeconds: 60,
            HeartbeatSecondsPath: "$.heartbeatSeconds",
            Parameters: {
              FunctionName: "arn:aws:lambda:us-east-1:123456789012:function:f",
              Payload: { "name.$": "$.name", "token.$": "$$.Task.Token" },
            },
            End: true,
          },
        },
      },
      stateMachineName: "beating",
      logger: createLogger("nexus-test", { level: "SILENT" }),
      invoke: async (payload) => {
        tokens.set(String(payload.name), String(payload.token));
        return null;
      },
    });
    beatClient = clientOf(beating);
  });
  afterAll(async () => {
    beatClient?.destroy();
    await beating?.stop();
  });

  const begin = async (name: string, heartbeatSeconds: number) => {
    const { executionArn = "" } = await beatClient.send(
      new StartExecutionCommand({
        stateMachineArn: beating.stateMachineArn,
        name,
        input: JSON.stringify({ name, heartbeatSeconds }),
      }),
    );
    await expect.poll(() => tokens.has(name)).toBe(true);
    return { executionArn, taskToken: tokens.get(name) ?? "" };
  };
  const described = async (executionArn: string) => {
    await beating.settled(executionArn);
    return beatClient.send(new DescribeExecutionCommand({ executionArn }));
  };

  it("fails a waiting state that hears nothing for its HeartbeatSeconds, as Step Functions does", async () => {
    const { executionArn, taskToken } = await begin("silent", 1);
    expect(await described(executionArn)).toMatchObject({ status: "FAILED", error: "States.HeartbeatTimeout" });
    await expect(beatClient.send(new SendTaskHeartbeatCommand({ taskToken }))).rejects.toThrow();
  });

  it("keeps a waiting state that hears a heartbeat in time, for longer than one heartbeat in all", async () => {
    const { executionArn, taskToken } = await begin("beating", 1);
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 400));
      await beatClient.send(new SendTaskHeartbeatCommand({ taskToken }));
    }
    await beatClient.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ done: true }) }));
    expect(await described(executionArn)).toMatchObject({ status: "SUCCEEDED" });
  });
});
