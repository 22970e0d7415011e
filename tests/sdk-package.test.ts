import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Json } from "./support/client.js";
import { useLocalNexus } from "./support/local.js";

/**
 * The SDK as a user gets it: `npm pack` of packages/sdk (its prepack builds it), installed from the tarball into an
 * empty directory, then used from plain Node (no tsx, no TypeScript loader): the client imported by name, the
 * `nexus` binary run through its shebang, a task submitted and its result waited for, against a local runtime.
 */
const run = promisify(execFile);
const local = useLocalNexus();
const sdk = fileURLToPath(new URL("../packages/sdk", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "nexus-sdk-package-"));
const app = join(work, "app");

/** A child's environment without this process's loaders (vitest's, tsx's), as a user's shell would have. */
const plainEnv = (extra: Record<string, string> = {}) => {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !/^(NODE_OPTIONS|VITEST|TSX)/.test(name)) env[name] = value;
  }
  return { ...env, NEXUS_URL: local.nexus.url, NEXUS_API_KEY: local.nexus.adminKey, ...extra };
};

let tarball = "";
let packedFiles: string[] = [];
beforeAll(async () => {
  const packed = await run("npm", ["pack", "--json", "--pack-destination", work], {
    cwd: sdk,
    env: plainEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  tarball = join(work, info?.filename ?? "");
  packedFiles = (info?.files ?? []).map((f) => f.path).sort();
  // An empty directory with nothing but the tarball's package installed.
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], {
    cwd: app,
    env: plainEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
}, 300_000);
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("the SDK package", () => {
  it("ships its build (JavaScript and type declarations) and nothing else", () => {
    expect(packedFiles).toEqual(expect.arrayContaining(["package.json", "dist/index.js", "dist/index.d.ts"]));
    expect(packedFiles).toEqual(expect.arrayContaining(["dist/cli.js", "dist/client.d.ts", "dist/types.d.ts"]));
    expect(packedFiles.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    const installed = join(app, "node_modules/@nexus/sdk");
    expect(readdirSync(installed).sort()).toEqual(["README.md", "dist", "package.json"]);
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    expect(manifest).toMatchObject({
      main: "./dist/index.js",
      types: "./dist/index.d.ts",
      bin: { nexus: "./dist/cli.js" },
    });
    expect(manifest.dependencies ?? {}).toEqual({});
  });

  it("is imported from plain Node and submits a task, waiting for its result", async () => {
    writeFileSync(
      join(app, "submit.mjs"),
      `import { NexusClient, NexusApiError } from "@nexus/sdk";
const client = new NexusClient({ url: process.env.NEXUS_URL, key: process.env.NEXUS_API_KEY });
const task = await client.tasks.submit({ agentId: "diag", action: "echo", params: { from: "packed sdk" } });
let done = task;
for (let i = 0; i < 200 && !["succeeded", "failed", "cancelled"].includes(done.status); i++) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  done = await client.tasks.get(task.id);
}
const missing = await client.tasks.get("tsk_missing").catch((error) => error);
console.log(JSON.stringify({ done, missing: missing instanceof NexusApiError ? missing.status : String(missing) }));
`,
    );
    const out = await run(process.execPath, ["submit.mjs"], { cwd: app, env: plainEnv() });
    const reply: Json = JSON.parse(out.stdout);
    expect(reply.done).toMatchObject({ status: "succeeded", result: { from: "packed sdk" } });
    expect(reply.missing).toBe(404);
  });

  it("installs a nexus binary that runs with plain Node: --help, and a task followed to its result", async () => {
    const bin = join(app, "node_modules/.bin/nexus");
    const help = await run(bin, ["--help"], { cwd: app, env: plainEnv() });
    expect(help.stdout).toContain("tasks submit <agent> <action>");
    expect(help.stdout).toContain("schedules preview");
    const submitted = await run(
      bin,
      ["tasks", "submit", "diag", "echo", "--params", '{"via":"nexus bin"}', "--follow", "--json"],
      { cwd: app, env: plainEnv() },
    );
    expect(JSON.parse(submitted.stdout)).toMatchObject({ status: "succeeded", result: { via: "nexus bin" } });
  });

  it("carries type declarations a TypeScript project compiles against", async () => {
    writeFileSync(
      join(app, "check.ts"),
      `import { NexusClient, type Schedule, type Task } from "@nexus/sdk";
const client = new NexusClient({ url: "http://127.0.0.1:1", key: "k" });
export const submit = (): Promise<Task> => client.tasks.submit({ agentId: "diag", action: "echo" });
export const next = (s: Schedule): string[] => s.nextRuns;
// @ts-expect-error: a task's status is one of five
export const wrong: Task["status"] = "exploded";
`,
    );
    const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
    const args = ["--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node"];
    const typeRoots = fileURLToPath(new URL("../node_modules/@types", import.meta.url));
    const checked = await run(process.execPath, [tsc, ...args, "--typeRoots", typeRoots, "check.ts"], {
      cwd: app,
      env: plainEnv(),
    }).then(
      (done) => ({ code: 0, output: done.stdout + done.stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        output: error.stdout + error.stderr,
      }),
    );
    expect(checked).toEqual({ code: 0, output: "" });
  });
});
