import * as z from "zod";
import type { Context } from "../context.js";
import { ValidationError } from "../errors.js";
import { pure } from "../pure.js";
import { checkTarget, type TargetIssueCode } from "../targets.js";
import { MAX_PLAN_STEPS, PlanStepInput, type PlanStepSpec } from "./schema.js";
import { holdsReference, scan } from "./templates.js";

export interface PlanIssue {
  path: string;
  message: string;
  /** For a step's target: the same code a task submission or a schedule gives for the same mistake. */
  code?: TargetIssueCode;
}

const StepsSchema = /* @__PURE__ */ pure(() => z.array(PlanStepInput).min(1).max(MAX_PLAN_STEPS));

/** The value at a dotted path (`params.to.0`) of a step, for deciding whether an issue is about a reference. */
function valueAt(root: unknown, path: string): unknown {
  let value: unknown = { params: root };
  for (const segment of path.split(".")) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** A cycle among the steps, as ids from its first step back to it, or undefined. */
export function findCycle(steps: ReadonlyArray<{ id: string; dependsOn: readonly string[] }>): string[] | undefined {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, "visiting" | "done">();
  const trail: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === "done") return undefined;
    if (state.get(id) === "visiting") return [...trail.slice(trail.indexOf(id)), id];
    state.set(id, "visiting");
    trail.push(id);
    for (const dep of byId.get(id)?.dependsOn ?? []) {
      if (!byId.has(dep)) continue;
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    trail.pop();
    state.set(id, "done");
    return undefined;
  };
  for (const step of steps) {
    const cycle = visit(step.id);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Every step each step depends on, directly or through others. */
export function ancestorsOf(steps: ReadonlyArray<{ id: string; dependsOn: readonly string[] }>) {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const memo = new Map<string, Set<string>>();
  const of = (id: string, seen: Set<string>): Set<string> => {
    const known = memo.get(id);
    if (known) return known;
    const all = new Set<string>();
    for (const dep of byId.get(id)?.dependsOn ?? []) {
      if (seen.has(dep)) continue;
      all.add(dep);
      for (const a of of(dep, new Set([...seen, dep]))) all.add(a);
    }
    memo.set(id, all);
    return all;
  };
  return new Map(steps.map((s) => [s.id, of(s.id, new Set([s.id]))]));
}

/** Steps in an order where every step comes after its dependencies (stable otherwise). */
export function inDependencyOrder<T extends { id: string; dependsOn: readonly string[] }>(steps: readonly T[]): T[] {
  const placed = new Set<string>();
  const ordered: T[] = [];
  let remaining = [...steps];
  while (remaining.length > 0) {
    const ready = remaining.filter((s) => s.dependsOn.every((d) => placed.has(d)));
    if (ready.length === 0) return [...ordered, ...remaining]; // a cycle: refused by validation anyway
    for (const s of ready) {
      placed.add(s.id);
      ordered.push(s);
    }
    remaining = remaining.filter((s) => !placed.has(s.id));
  }
  return ordered;
}

/** The structure: ids unique, dependencies known, no cycle, references only to ancestors with results. */
function checkGraph(steps: PlanStepSpec[], issues: PlanIssue[]) {
  const firstIndex = new Map<string, number>();
  steps.forEach((step, i) => {
    const earlier = firstIndex.get(step.id);
    if (earlier !== undefined) {
      issues.push({ path: `steps.${i}.id`, message: `duplicate step id '${step.id}' (also steps.${earlier})` });
    } else firstIndex.set(step.id, i);
  });
  steps.forEach((step, i) => {
    step.dependsOn.forEach((dep, j) => {
      if (!firstIndex.has(dep)) issues.push({ path: `steps.${i}.dependsOn.${j}`, message: `unknown step '${dep}'` });
    });
    if (new Set(step.dependsOn).size !== step.dependsOn.length) {
      issues.push({ path: `steps.${i}.dependsOn`, message: "lists a step twice" });
    }
  });
  const cycle = findCycle(steps);
  if (cycle) {
    const at = firstIndex.get(cycle[0] ?? "") ?? 0;
    issues.push({
      path: `steps.${at}.dependsOn`,
      message: `dependency cycle: ${cycle.join(" → ")} (each depends on the next)`,
    });
    return;
  }
  const ancestors = ancestorsOf(steps);
  const kinds = new Map(steps.map((s) => [s.id, s.kind ?? "agent"]));
  steps.forEach((step, i) => {
    if (step.kind !== undefined && step.kind !== "agent") return;
    const { references, problems } = scan(step.params);
    for (const problem of problems) issues.push({ path: `steps.${i}.${problem.path}`, message: problem.message });
    for (const ref of references) {
      const path = `steps.${i}.${ref.at}`;
      if (!kinds.has(ref.stepId)) {
        issues.push({ path, message: `references unknown step '${ref.stepId}'` });
      } else if (!ancestors.get(step.id)?.has(ref.stepId)) {
        issues.push({
          path,
          message: `references step '${ref.stepId}', which is not an ancestor of '${step.id}' (add it to dependsOn)`,
        });
      } else if (kinds.get(ref.stepId) !== "agent") {
        issues.push({
          path,
          message: `references step '${ref.stepId}', a ${kinds.get(ref.stepId)} step with no result`,
        });
      }
    }
  });
}

/** What can be known before dispatch: the target rule of every task (references aside: their values come later). */
async function checkAgents(ctx: Context, steps: PlanStepSpec[], issues: PlanIssue[]) {
  for (const [i, step] of steps.entries()) {
    if (step.kind !== undefined && step.kind !== "agent") continue;
    const params = step.params ?? {};
    const checked = await checkTarget(ctx, step, {
      // A reference's value is known only at dispatch: its type is checked then.
      ignoreParamsIssue: (path) => holdsReference(valueAt(params, path)),
    });
    if (checked.ok) continue;
    for (const issue of checked.issues) issues.push({ ...issue, path: `steps.${i}.${issue.path}` });
  }
}

/**
 * Validates a plan's steps before anything runs: shape, unique ids, known dependencies, no cycle (named),
 * references to ancestors only, known and active agents, known actions, params that fit the action's
 * schema where knowable. Throws a {@link ValidationError} listing every problem; returns the steps in
 * dependency order.
 */
export async function validateSteps(ctx: Context, raw: unknown): Promise<PlanStepSpec[]> {
  const parsed = StepsSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: ["steps", ...issue.path.map(String)].join("."),
      message:
        issue.code === "too_big" && issue.path.length === 0
          ? `a plan has at most ${MAX_PLAN_STEPS} steps`
          : issue.message,
    }));
    throw new ValidationError("plan steps are not valid", issues);
  }
  const steps = parsed.data;
  const issues: PlanIssue[] = [];
  checkGraph(steps, issues);
  await checkAgents(ctx, steps, issues);
  if (issues.length > 0)
    throw new ValidationError(`plan is not valid: ${issues[0]?.path}: ${issues[0]?.message}`, issues);
  return inDependencyOrder(steps);
}
