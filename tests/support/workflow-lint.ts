/**
 * The workflow linter the test suite runs over .github/workflows: action-validator (GitHub's workflow schema, compiled
 * to WebAssembly, with its checks of job references and globs), then the rules this repository holds its workflows to.
 */
import { type ValidationError, validateWorkflow } from "@action-validator/core";
import { parse } from "yaml";

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };
const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const list = (v: Json | undefined): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A remote action or reusable workflow pinned to a full commit SHA, with the version it is in a comment. */
const PINNED = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_./-]+@[0-9a-f]{40}$/;

/** Every problem of one workflow file; empty when it passes. */
export function lintWorkflow(file: string, text: string): string[] {
  const problems: string[] = [];
  // A "one of" error holds, for each alternative of the schema, why it did not fit: all of them are told.
  const tell = (errors: ValidationError[]) => {
    for (const error of errors) {
      problems.push(
        `${file}: ${error.title}${"path" in error ? ` at ${error.path}` : ""}: ${error.detail ?? error.code}`,
      );
      if ("states" in error) for (const state of error.states ?? []) tell(state.errors);
    }
  };
  tell(validateWorkflow(text).errors);
  let doc: Json;
  try {
    doc = parse(text) as Json;
  } catch (error) {
    return [...problems, `${file}: not YAML: ${(error as Error).message}`];
  }
  if (!isObj(doc)) return [...problems, `${file}: not a workflow`];

  // Permissions: declared at the top (least privilege by default), never write-all.
  if (doc.permissions === undefined) problems.push(`${file}: no top-level permissions`);
  const jobs = isObj(doc.jobs) ? doc.jobs : {};
  for (const [id, job] of Object.entries(jobs)) {
    if (!isObj(job)) continue;
    for (const permissions of [doc.permissions, job.permissions]) {
      if (permissions === "write-all") problems.push(`${file}: ${id} has write-all permissions`);
    }
    // A job that runs steps has a timeout (a called workflow's jobs have their own).
    if (job.uses === undefined && job["timeout-minutes"] === undefined) problems.push(`${file}: ${id} has no timeout`);
    const uses = [
      ...(typeof job.uses === "string" ? [job.uses] : []),
      ...list(job.steps).flatMap((step) => (isObj(step) && typeof step.uses === "string" ? [step.uses] : [])),
    ];
    for (const ref of uses) {
      if (ref.startsWith("./")) continue; // this repository, at this commit
      if (!PINNED.test(ref)) problems.push(`${file}: ${id} uses ${ref}, not pinned to a full commit SHA`);
      else if (!new RegExp(`uses: ${ref.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} # v\\d`).test(text)) {
        problems.push(`${file}: ${id} uses ${ref} without its version in a comment (# vX.Y.Z)`);
      }
    }
    for (const step of list(job.steps)) {
      if (!isObj(step) || !isObj(step.with)) continue;
      for (const input of ["aws-access-key-id", "aws-secret-access-key", "aws-session-token"]) {
        if (step.with[input] !== undefined) problems.push(`${file}: ${id} passes stored AWS keys (${input})`);
      }
    }
  }
  return problems;
}

/** The jobs of a workflow, by id. */
export function jobsOf(text: string): Record<string, Obj> {
  const doc = parse(text) as Json;
  return isObj(doc) && isObj(doc.jobs) ? (doc.jobs as Record<string, Obj>) : {};
}
