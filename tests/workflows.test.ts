/**
 * The GitHub Actions workflows (.github/workflows): each passes the workflow linter (tests/support/workflow-lint.ts),
 * the checks run everything the repository checks, and the deploy workflow deploys the prod stage from main only after
 * them, with OIDC credentials, behind the protected environment, one deployment at a time.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { jobsOf, lintWorkflow } from "./support/workflow-lint.js";

const DIR = path.join(import.meta.dirname, "..", ".github", "workflows");
const files = readdirSync(DIR).filter((name) => /\.ya?ml$/.test(name));
const read = (name: string) => readFileSync(path.join(DIR, name), "utf8");
type Step = { uses?: string; run?: string; with?: Record<string, unknown> };
const stepsOf = (job: { steps?: unknown }) => (job.steps ?? []) as Step[];
const runs = (job: { steps?: unknown }) => stepsOf(job).flatMap((step) => (step.run ? [step.run.trim()] : []));
/** A GitHub Actions expression, `${{ … }}`. */
const expression = (inner: string) => `\${{ ${inner} }}`;
const usesIndex = (steps: Step[], action: string) => steps.findIndex((step) => step.uses?.startsWith(`${action}@`));

describe("workflow linter", () => {
  it("finds the workflows", () => {
    expect(files.sort()).toEqual(["ci.yml", "deploy.yml"]);
  });

  it.each(files)("%s passes", (name) => {
    expect(lintWorkflow(name, read(name))).toEqual([]);
  });

  it("refuses what it is there to refuse", () => {
    const bad = [
      "on: push",
      "jobs:",
      "  build:",
      "    runs-on: ubuntu-latest",
      "    permissions: write-all",
      "    needs: nothing",
      "    steps:",
      "      - uses: actions/checkout@v4",
      "      - uses: aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c",
      "        with:",
      `          aws-access-key-id: ${expression("secrets.KEY")}`,
      "          colour: blue",
      "        colour: blue",
    ].join("\n");
    const problems = lintWorkflow("bad.yml", bad).join("\n");
    expect(problems).toMatch(/Unresolved job/); // action-validator
    expect(problems).toMatch(/Additional property 'colour'/); // action-validator
    expect(problems).toMatch(/no top-level permissions/);
    expect(problems).toMatch(/build has write-all permissions/);
    expect(problems).toMatch(/build has no timeout/);
    expect(problems).toMatch(/uses actions\/checkout@v4, not pinned to a full commit SHA/);
    expect(problems).toMatch(/configure-aws-credentials@e6de\w+ without its version in a comment/);
    expect(problems).toMatch(/passes stored AWS keys \(aws-access-key-id\)/);
  });
});

describe("ci workflow", () => {
  const text = read("ci.yml");
  const on = (parse(text) as { on: Record<string, unknown> }).on;

  it("checks pull requests, and is what the deploy workflow runs first", () => {
    expect(Object.keys(on).sort()).toEqual(["pull_request", "workflow_call", "workflow_dispatch"]);
  });

  it("lints, type-checks, builds every function bundle and synthesizes the stack, then runs every other test", () => {
    const { test } = jobsOf(text);
    expect(test).toBeDefined();
    const commands = runs(test ?? {});
    expect(commands).toEqual([
      "npm ci --no-audit --no-fund",
      "npm run lint",
      "npm run typecheck",
      "npx vitest run tests/stacks",
      "npx vitest run --exclude 'tests/stacks/**'",
    ]);
    const setupNode = stepsOf(test ?? {})[usesIndex(stepsOf(test ?? {}), "actions/setup-node")];
    expect(setupNode?.with).toEqual({ "node-version": 20, cache: "npm" });
  });
});

describe("deploy workflow", () => {
  const text = read("deploy.yml");
  const doc = parse(text) as { on: Record<string, unknown>; permissions: unknown };
  const jobs = jobsOf(text);
  const deploy = jobs.deploy ?? {};
  const steps = stepsOf(deploy);

  it("runs on every push to main (and by hand), with read-only permissions by default", () => {
    expect(doc.on).toEqual({ push: { branches: ["main"] }, workflow_dispatch: null });
    expect(doc.permissions).toEqual({ contents: "read" });
  });

  it("deploys only after the checks pass", () => {
    expect(jobs.checks?.uses).toBe("./.github/workflows/ci.yml");
    expect(deploy.needs).toBe("checks");
  });

  it("deploys in the protected production environment, one deployment at a time, never cancelled", () => {
    expect(deploy.environment).toBe("production");
    expect(deploy.concurrency).toEqual({ group: "deploy-prod", "cancel-in-progress": false });
  });

  it("gets AWS credentials from GitHub's OIDC token for the role in a repository variable, no stored keys", () => {
    expect(deploy.permissions).toEqual({ "id-token": "write", contents: "read" });
    const credentials = steps[usesIndex(steps, "aws-actions/configure-aws-credentials")];
    expect(credentials?.with).toEqual({
      "role-to-assume": expression("vars.AWS_DEPLOY_ROLE_ARN"),
      "aws-region": expression("vars.AWS_REGION"),
      "role-session-name": `nexus-deploy-${expression("github.run_id")}`,
    });
    expect(text).not.toMatch(/secrets\.AWS|aws-access-key-id|aws-secret-access-key/);
  });

  it("installs with npm ci on Node 20 (npm cache), then runs sst deploy of the prod stage with those credentials", () => {
    expect(steps[usesIndex(steps, "actions/setup-node")]?.with).toEqual({ "node-version": 20, cache: "npm" });
    const install = steps.findIndex((step) => step.run?.startsWith("npm ci"));
    const credentials = usesIndex(steps, "aws-actions/configure-aws-credentials");
    const sstDeploy = steps.findIndex((step) => step.run?.trim() === "npx sst deploy --stage prod");
    expect(usesIndex(steps, "actions/checkout")).toBe(0);
    expect(install).toBeGreaterThan(0);
    expect(credentials).toBeGreaterThan(install);
    expect(sstDeploy).toBeGreaterThan(credentials);
    expect(sstDeploy).toBe(steps.length - 1);
  });
});
