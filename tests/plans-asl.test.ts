import { readFileSync } from "node:fs";
import * as Plans from "@nexus/core/plans";
import validator from "asl-validator";
import { describe, expect, it } from "vitest";

const RUNNER = "arn:aws:lambda:us-east-1:123456789012:function:nexus-plans";
const text = readFileSync(Plans.PLAN_DEFINITION_FILE, "utf8");
const definition = Plans.planDefinition({ PlanRunnerArn: RUNNER });

type State = Record<string, unknown> & { Type: string };
type Machine = { StartAt: string; States: Record<string, State> };

/** Every state of the definition, nested ones too, with the machine it belongs to. */
function allStates(machine: Machine, out: Array<[string, State]> = []) {
  for (const [name, state] of Object.entries(machine.States)) {
    out.push([name, state]);
    const nested = state.ItemProcessor as Machine | undefined;
    if (nested) allStates(nested, out);
  }
  return out;
}
const states = allStates(definition as unknown as Machine);
const tasks = states.filter(([, s]) => s.Type === "Task");

/**
 * Events a state adds to a Standard execution's history, worst case: entered/exited, plus for a Lambda task
 * scheduled/started/(submitted)/succeeded and, per retry, scheduled/started/(submitted)/failed again.
 */
function eventsOf(state: State): number {
  if (state.Type === "Choice" || state.Type === "Wait" || state.Type === "Pass") return 2;
  if (state.Type === "Fail" || state.Type === "Succeed") return 1;
  if (state.Type !== "Task") throw new Error(`no event count for ${state.Type}`);
  const waits = String(state.Resource).endsWith(".waitForTaskToken");
  const perTry = waits ? 4 : 3;
  const retries = ((state.Retry as Array<{ MaxAttempts?: number }> | undefined) ?? []).reduce(
    (sum, r) => sum + (r.MaxAttempts ?? 3),
    0,
  );
  return 2 + perTry + retries * perTry;
}

/** The most events any path through a machine can add (the graph is acyclic; Catch targets included). */
function worstPath(machine: Machine): number {
  const memo = new Map<string, number>();
  const from = (name: string): number => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const state = machine.States[name] as State;
    const next = [
      state.Next,
      state.Default,
      ...((state.Choices as Array<{ Next: string }> | undefined) ?? []).map((c) => c.Next),
      ...((state.Catch as Array<{ Next: string }> | undefined) ?? []).map((c) => c.Next),
    ].filter((n): n is string => typeof n === "string");
    const total = eventsOf(state) + Math.max(0, ...next.map(from));
    memo.set(name, total);
    return total;
  };
  return from(machine.StartAt);
}

/** The step's clocks in an iteration's input, each a distinct number. */
const CLOCKS = { timeoutSeconds: 111, heartbeatSeconds: 110, dependencyTimeoutSeconds: 999 };

/** The value at a JSONPath of the form `$.a.b`. */
function at(value: unknown, path: string): unknown {
  expect(path).toMatch(/^\$(\.\w+)+$/);
  return path
    .slice(2)
    .split(".")
    .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);
}

/** A Task state's effective parameters for `input`: its Parameters template, `.$` fields resolved (`$.` paths). */
function withParameters(state: State, input: unknown): unknown {
  const resolve = (template: unknown): unknown => {
    if (typeof template !== "object" || template === null) return template;
    return Object.fromEntries(
      Object.entries(template).map(([key, value]) =>
        key.endsWith(".$")
          ? [key.slice(0, -2), String(value).startsWith("$$.") ? "token" : at(input, String(value))]
          : [key, resolve(value)],
      ),
    );
  };
  return resolve(state.Parameters);
}

type ChoiceRule = {
  Next: string;
  Variable?: string;
  BooleanEquals?: boolean;
  StringEquals?: string;
  And?: ChoiceRule[];
  Or?: ChoiceRule[];
};

/** Whether a Choice rule (comparisons on `$.Payload.waits` and `$.Payload.kind`, And, Or) holds for a step. */
function matches(rule: Omit<ChoiceRule, "Next">, step: { kind: string; waits: boolean }): boolean {
  if (rule.And) return rule.And.every((r) => matches(r, step));
  if (rule.Or) return rule.Or.some((r) => matches(r, step));
  if (rule.Variable === "$.Payload.waits" && rule.BooleanEquals !== undefined) return step.waits === rule.BooleanEquals;
  if (rule.Variable === "$.Payload.kind" && rule.StringEquals !== undefined) return step.kind === rule.StringEquals;
  throw new Error(`a Choice rule this test cannot read: ${JSON.stringify(rule)}`);
}

describe("the plan state machine definition (one ASL file for the stack and the local runtime)", () => {
  it("is valid ASL, paths and ARNs checked", () => {
    const result = validator(definition, { checkPaths: true, checkArn: true });
    expect(result.errorsText("\n")).toBe("");
    expect(result.isValid).toBe(true);
  });

  it("is JSONPath only: no JSONata, variables or Arguments", () => {
    expect(text).not.toMatch(/"(QueryLanguage|Arguments|Assign|Output)"\s*:/);
    expect(text).not.toContain("{%");
    expect([...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1])).toEqual(Array(tasks.length).fill("PlanRunnerArn"));
  });

  it("calls only the plan runner, retries Lambda service faults, and passes waiting states their token", () => {
    for (const [name, state] of tasks) {
      const parameters = state.Parameters as { FunctionName: string; Payload: Record<string, string> };
      expect(parameters.FunctionName, name).toBe(RUNNER);
      expect(String(state.Resource), name).toMatch(/^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/);
      const retried = (state.Retry as Array<{ ErrorEquals: string[] }>).flatMap((r) => r.ErrorEquals);
      expect(retried, name).toContain("Lambda.ServiceException");
      expect(retried, name).not.toContain("States.ALL");
      if (String(state.Resource).endsWith(".waitForTaskToken")) {
        expect(parameters.Payload["token.$"], name).toBe("$$.Task.Token");
        expect((state.Catch as Array<{ Next: string }>)[0]?.Next, name).toBe("StepFailed");
      }
    }
  });

  it("times each waiting state by the step's own clock, read from the state input as Step Functions reads it", () => {
    // A Map iteration's input, as the runner's `start` op makes it (distinct numbers, to tell them apart).
    const input = {
      Payload: { ...{ planId: "pln_1", run: 1, stepId: "s", kind: "agent", waits: true, seconds: 0 }, ...CLOCKS },
    };
    const waiting = tasks.filter(([, s]) => String(s.Resource).endsWith(".waitForTaskToken"));
    expect(waiting.map(([name]) => name).sort()).toEqual(
      ["AwaitApproval", "AwaitDependencies", "AwaitTaskDependencies", "RunTask"].sort(),
    );
    for (const [name, state] of waiting) {
      const payload = (state.Parameters as { Payload: Record<string, unknown> }).Payload;
      // Waiting for dependencies is bounded by the plan's own limit; a step's timeout starts when the step does.
      const expected = payload.op === "ready" ? CLOCKS.dependencyTimeoutSeconds : CLOCKS.timeoutSeconds;
      const path = String(state.TimeoutSecondsPath);
      expect(at(input, path), `${name}: TimeoutSecondsPath in the state input`).toBe(expected);
      // The local interpreter reads the path in the effective parameters: the same value must be there too.
      expect(at(withParameters(state, input), path), `${name}: TimeoutSecondsPath in the parameters`).toBe(expected);
      if (state.HeartbeatSecondsPath) {
        expect(at(input, String(state.HeartbeatSecondsPath)), name).toBe(CLOCKS.heartbeatSeconds);
        expect(at(withParameters(state, input), String(state.HeartbeatSecondsPath)), name).toBe(
          CLOCKS.heartbeatSeconds,
        );
      }
    }
  });

  it("routes every kind of step with one Choice, waiting or not", () => {
    const map = (definition as unknown as Machine).States.RunSteps as State & { ItemProcessor: Machine };
    const processor = map.ItemProcessor;
    const route = processor.States[processor.StartAt] as State & { Choices: unknown[]; Default: string };
    expect(route.Type).toBe("Choice");
    const firstTask = (kind: string, waits: boolean) => {
      const choice = (route.Choices as ChoiceRule[]).find((rule) => matches(rule, { kind, waits }));
      return choice?.Next ?? route.Default;
    };
    expect(firstTask("agent", false)).toBe("RunTask");
    expect(firstTask("agent", true)).toBe("AwaitTaskDependencies");
    expect(processor.States.AwaitTaskDependencies?.Next).toBe("RunTask");
    expect(firstTask("approval", false)).toBe("AwaitApproval");
    expect(firstTask("wait", false)).toBe("WaitStep");
    expect(firstTask("approval", true)).toBe("AwaitDependencies");
    expect(firstTask("wait", true)).toBe("AwaitDependencies");
    expect(processor.States.AwaitDependencies?.Next).toBe("StepKind");
  });

  it(`keeps a plan of ${Plans.MAX_PLAN_STEPS} steps far below the 25,000-event history limit`, () => {
    const top = definition as unknown as Machine;
    const map = top.States.RunSteps as State & { ItemProcessor: Machine; MaxConcurrency: number };
    expect(map.MaxConcurrency).toBeGreaterThanOrEqual(Plans.MAX_PLAN_STEPS);
    const perStep = worstPath(map.ItemProcessor) + 2; // + MapIterationStarted / MapIterationSucceeded|Failed
    const outside = worstPath({ ...top, States: { ...top.States, RunSteps: { ...map, Type: "Pass" } } }) + 4;
    const worst = Plans.MAX_PLAN_STEPS * perStep + outside;
    process.stdout.write(
      `plan history bound: ${perStep} events per step (worst case, every Lambda retry used), ${worst} for ${Plans.MAX_PLAN_STEPS} steps (limit 25,000)\n`,
    );
    expect(worst).toBeLessThan(25_000 / 5);
  });
});
