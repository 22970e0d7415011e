import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NexusApiError, NexusClient, NexusNetworkError, NexusWorker, runCli } from "@nexus/sdk";
import { describe, expect, it } from "vitest";
import type { Json } from "./support/client.js";
import { useLocalNexus } from "./support/local.js";

const local = useLocalNexus();
const root = fileURLToPath(new URL("..", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the `nexus` CLI as a user would, against the local runtime: `node --import tsx packages/sdk/src/cli.ts …`
 * (what `npx tsx` runs, without the extra process).
 */
function nexus(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "packages/sdk/src/cli.ts", ...args], {
      cwd: root,
      env: { ...process.env, NEXUS_URL: local.nexus.url, NEXUS_API_KEY: local.nexus.adminKey, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The same CLI in this process (`runCli`), for the cases where a process start proves nothing more. */
async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    env: { NEXUS_URL: local.nexus.url, NEXUS_API_KEY: local.nexus.adminKey, ...env },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

const parsed = (run: Run): Json => {
  try {
    return JSON.parse(run.stdout);
  } catch {
    throw new Error(`not JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
  }
};

describe("nexus CLI", () => {
  it("submits a task and follows it to its result: --json prints only the finished task", async () => {
    const run = await nexus(["tasks", "submit", "diag", "echo", "--params", '{"hello":"cli"}', "--follow", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(parsed(run)).toMatchObject({ agentId: "diag", status: "succeeded", result: { hello: "cli" }, attempts: 1 });
  });

  it("follows for people: a progress line per change (status, attempt, elapsed), then the result", async () => {
    const run = await nexus(["tasks", "submit", "diag", "sleep", "--params", '{"ms":400}', "--follow"]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^tsk_\S+ queued · attempt 0\/3 · \d+\.\ds$/);
    expect(lines).toContainEqual(expect.stringMatching(/^tsk_\S+ succeeded · attempt 1\/3 · \d+\.\ds$/));
    expect(run.stdout).toMatch(/result: \{\n {2}"sleptMs": 400/);
  });

  it("lists tasks and agents, as JSON and as tables", async () => {
    const submitted = (await local.api.post("/v1/tasks", { agentId: "diag", action: "echo" })).body;
    const [tasks, agents, table] = await Promise.all([
      cli(["tasks", "list", "--agent", "diag", "--limit", "100", "--json"]),
      cli(["agents", "list", "--json"]),
      cli(["agents", "list"]),
    ]);
    expect(tasks.code).toBe(0);
    expect(parsed(tasks).items.map((t: Json) => t.id)).toContain(submitted.id);
    expect(parsed(agents).items.map((a: Json) => a.id)).toContain("diag");
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+KIND\s+STATUS\s+BUILT-IN\s+ACTIONS\n/);
    expect(table.stdout).toMatch(/^diag\s+diag\s+active\s+yes\s+echo, sleep, fail\b/m);
  });

  it("submits the tasks of a file, 100 a request, in its order; a refused request says how far it got", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-many-"));
    try {
      const lines = Array.from({ length: 150 }, (_, i) =>
        JSON.stringify({ agentId: "diag", action: "echo", params: { i } }),
      );
      const file = join(dir, "tasks.jsonl");
      writeFileSync(file, `# 150 echoes\n${lines.join("\n")}\n\n`);
      const run = await cli(["tasks", "submit-many", "--file", file, "--json"]);
      expect(run.code, run.stderr).toBe(0);
      const items = parsed(run).items as Json[];
      expect(items.map((item) => item.task.params.i)).toEqual(Array.from({ length: 150 }, (_, i) => i));
      const table = await cli(["tasks", "submit-many", "--file", file]);
      expect(table.stdout).toMatch(/^#\s+ID\s+AGENT\s+ACTION\s+STATUS\n1\s+tsk_\S+\s+diag\s+echo\s+queued$/m);

      // The second request is refused (line 120): the first 100 stay queued, and the error says so.
      const bad = [...lines.slice(0, 119), JSON.stringify({ agentId: "diag", action: "nope" }), ...lines.slice(120)];
      writeFileSync(file, bad.join("\n"));
      const refused = await cli(["tasks", "submit-many", "--file", file]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("tasks[19]");
      expect(refused.stderr).toContain("tasks 1 to 100 were submitted");

      writeFileSync(file, `${lines[0]}\n[1, 2]\n`);
      const notObject = await cli(["tasks", "submit-many", "--file", file]);
      expect(notObject.code).toBe(2);
      expect(notObject.stderr).toContain("line 2 must be a JSON object");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exits 2 with the usage for what it cannot run, before calling the API", async () => {
    const runs = await Promise.all([
      nexus(["tasks", "submit", "diag"]),
      cli(["tasks", "submit", "diag", "echo", "--params", "{not json"]),
      cli(["tasks", "list", "--follow"]),
      cli(["tasks", "list", "--bogus"]),
      cli(["frobnicate"]),
      nexus(["agents", "list"], { NEXUS_API_KEY: undefined }),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2]);
    const [arity, json, flag, unknownFlag, command, key] = runs.map((r) => r.stderr);
    expect(arity).toContain("tasks submit takes <agent> <action>");
    expect(arity).toContain("usage:");
    expect(json).toContain("--params is not valid JSON");
    expect(flag).toContain("tasks list does not take --follow");
    expect(unknownFlag).toContain("--bogus");
    expect(command).toContain("unknown command: frobnicate");
    expect(key).toContain("no API key");
    expect(runs.every((r) => r.stdout === "")).toBe(true);
  });

  it("exits 1 on an API error and prints its code (as JSON with --json), and when a followed task fails", async () => {
    const [missing, unknownAgent, asJson, badKey, failed] = await Promise.all([
      nexus(["tasks", "get", "tsk_nope"]),
      cli(["tasks", "submit", "nobody-here", "work"]),
      cli(["tasks", "submit", "diag", "echo", "--params", '{"n":1}', "--idempotency-key", "has space", "--json"]),
      cli(["agents", "list"], { NEXUS_API_KEY: "nxk_000000000000_not-a-valid-key" }),
      nexus(["tasks", "submit", "diag", "fail", "--params", '{"times":1,"retriable":false}', "--follow"]),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: not_found: task 'tsk_nope' was not found/);
    expect(unknownAgent.code).toBe(1);
    expect(unknownAgent.stderr).toContain("error: not_found:");
    expect(asJson.code).toBe(1);
    const error = JSON.parse(asJson.stderr).error;
    expect(error).toMatchObject({ code: "validation_error", status: 400 });
    expect(JSON.stringify(error.details)).toContain("idempotencyKey");
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain("error: unauthorized:");
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^task failed: drill_failure: /);
  });

  it("submits a plan from a file and follows it; creates, lists and revokes keys", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-cli-"));
    const file = join(dir, "plan.json");
    writeFileSync(file, JSON.stringify({ name: "cli plan", steps: [{ id: "hi", agentId: "diag", action: "echo" }] }));
    const [plan, created] = await Promise.all([
      nexus(["plans", "submit", "--file", file, "--follow", "--json"]),
      cli(["keys", "create", "--name", "cli-viewer", "--role", "viewer", "--json"]),
    ]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(parsed(plan)).toMatchObject({
      name: "cli plan",
      status: "succeeded",
      steps: [{ id: "hi", status: "succeeded" }],
    });

    expect(created.code, created.stderr).toBe(0);
    const key = parsed(created);
    expect(key.key).toMatch(/^nxk_/);
    const [listed, viewerCannot] = await Promise.all([
      cli(["keys", "list", "--limit", "100", "--json"]),
      cli(["keys", "list"], { NEXUS_API_KEY: key.key }),
    ]);
    expect(parsed(listed).items.map((k: Json) => k.id)).toContain(key.id);
    expect(viewerCannot.code).toBe(1);
    expect(viewerCannot.stderr).toContain("error: forbidden:");
    const revoked = await cli(["keys", "revoke", key.id, "--json"]);
    expect(revoked.code).toBe(0);
    expect(parsed(revoked).revokedAt).toEqual(expect.any(String));
  });

  it("manages schedules and reads the failures inbox", async () => {
    const name = `cli-${Math.random().toString(36).slice(2, 8)}`;
    const task = ["--agent", "diag", "--action", "echo", "--params", '{"from":"schedule"}'];
    const created = await cli(["schedules", "create", "--name", name, "--rate", "rate(1 hour)", ...task, "--json"]);
    expect(created.code, created.stderr).toBe(0);
    const schedule = parsed(created);
    expect(schedule).toMatchObject({ name, rate: "rate(1 hour)", enabled: true, target: { type: "task" } });
    const [ran, listed, failures] = await Promise.all([
      cli(["schedules", "run-now", schedule.id, "--json"]),
      cli(["schedules", "list", "--limit", "100"]),
      cli(["failures", "list", "--agent", "diag", "--json"]),
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(parsed(ran)).toMatchObject({ outcome: "started", taskId: expect.any(String) });
    expect(listed.stdout).toContain(`${schedule.id}  ${name}`);
    expect(listed.stdout).toContain("task diag.echo");
    expect(failures.code, failures.stderr).toBe(0);
    expect(parsed(failures).items).toEqual(expect.any(Array));
    expect((await local.api.delete(`/v1/schedules/${schedule.id}`)).status).toBe(200);
  });

  it("previews a Unix cron expression as EventBridge will run it", async () => {
    const shown = await cli(["schedules", "preview", "--cron", "0 9 * * 1-5", "--count", "2"]);
    expect(shown.code, shown.stderr).toBe(0);
    const [expression, ...runs] = shown.stdout.trim().split("\n");
    expect(expression).toBe("cron(0 9 ? * MON-FRI *) UTC");
    expect(runs).toHaveLength(2);
    for (const run of runs) expect(run).toMatch(/^\d{4}-\d\d-\d\dT09:00:00\.000Z$/);
    const refused = await cli(["schedules", "preview", "--cron", "0 9 1 * 1"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/both set/);
    expect((await cli(["schedules", "preview"])).code).toBe(2);
  });
});

describe("nexus backup", () => {
  it("needs a file, refuses a missing or unfinished one, and never writes over a finished export", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-cli-backup-"));
    const usage = await cli(["backup", "export"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--file is required");
    const missing = await cli(["backup", "import", "--file", join(dir, "none.jsonl"), "--json"]);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr).error.code).toBe("file_not_found");
    const partial = join(dir, "partial.jsonl");
    const header = { type: "header", format: "nexus-backup", version: 1, backupId: `bkp_${"2".repeat(26)}` };
    writeFileSync(partial, `${JSON.stringify({ ...header, asOf: new Date().toISOString(), table: "t" })}\n`);
    const unfinished = await cli(["backup", "import", "--file", partial]);
    expect(unfinished.code).toBe(1);
    expect(unfinished.stderr).toContain("incomplete_backup");
    const exported = await cli(["backup", "export", "--file", join(dir, "full.jsonl"), "--json"]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(parsed(exported)).toMatchObject({ backupId: expect.stringMatching(/^bkp_/), resumed: false });
    const again = await cli(["backup", "export", "--file", join(dir, "full.jsonl")]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("file_exists");
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("NexusClient", () => {
  it("returns typed objects and throws the API's errors with their code, status and request id", async () => {
    const client = new NexusClient({ url: local.nexus.url, key: local.nexus.adminKey });
    expect((await client.health()).status).toBe("ok");
    const task = await client.tasks.submit({ agentId: "diag", action: "echo", params: { via: "sdk" } });
    expect(task.status).toBe("queued");
    expect((await client.tasks.get(task.id)).id).toBe(task.id);

    const error = await client.tasks.get("tsk_missing").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NexusApiError);
    expect(error).toMatchObject({ status: 404, code: "not_found", transient: false });
    expect((error as NexusApiError).requestId).toMatch(/\S{8,}/);

    const offline = new NexusClient({ url: "http://127.0.0.1:9", key: "k", timeoutMs: 2000 });
    const unreachable = await offline.health().catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(NexusNetworkError);
  });
});

describe("NexusWorker", () => {
  it("backs off and claims again when the API cannot be reached, then runs the task", async () => {
    const agentId = `net-${Math.random().toString(36).slice(2, 8)}`;
    expect((await local.api.post("/v1/agents", { name: agentId, actions: [{ name: "work" }] })).status).toBe(201);
    let outages = 2;
    const flaky: typeof fetch = async (input, init) => {
      if (String(input).endsWith("/tasks/claim") && outages-- > 0) throw new TypeError("fetch failed");
      return fetch(input, init);
    };
    const errors: Json[] = [];
    const worker = new NexusWorker({
      url: local.nexus.url,
      key: local.nexus.adminKey,
      agentId,
      fetch: flaky,
      backoff: { initialMs: 50, maxMs: 200 },
      onError: (error, info) => errors.push({ stage: info.stage, error: (error as Error).name }),
      handlers: { work: () => "done" },
    });
    worker.start();
    try {
      const task = (await local.api.post("/v1/tasks", { agentId, action: "work" })).body;
      expect(await local.api.waitForTask(task.id)).toMatchObject({ status: "succeeded", result: "done" });
    } finally {
      await worker.stop();
    }
    expect(errors.slice(0, 2)).toEqual([
      { stage: "claim", error: "NexusNetworkError" },
      { stage: "claim", error: "NexusNetworkError" },
    ]);
  });
});
