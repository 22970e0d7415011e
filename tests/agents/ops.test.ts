import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type LocalNexus, startLocal } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ops } from "../../packages/agents/src/ops/handlers.js";
import { startOpsStandIn } from "../../packages/local/src/standins/ops.js";
import { apiClient, type Json } from "../support/client.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/ops/", import.meta.url));
const OUTPUT_CAP = 8192;
const WRITE_CAP = 4096;
const CANARY = "canary: nothing may change me\n";
const SECRET = "TOP-SECRET-OUTSIDE-THE-WORKSPACE\n";

let nexus: LocalNexus;
let api: ReturnType<typeof apiClient>;
let workspace: string;
let outside: string;
let endpoint: string;
const canaries: Array<{ server: Server; hits: string[]; port: number }> = [];
let canaryPort: number;

/** A server no check may reach (its port is not on the allow-list); it records every hit. */
async function startCanary(host: string) {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.end("canary");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(canaryPort ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  canaries.push({ server, hits, port });
  return port;
}

beforeAll(async () => {
  canaryPort = await startCanary("127.0.0.1");
  await startCanary("::1").catch(() => undefined); // same port on IPv6 loopback, when the host has it
  nexus = await startLocal({
    port: 0,
    logLevel: "SILENT",
    agents: [ops],
    standIns: [startOpsStandIn],
    settings: { rateLimitPerMinute: 1_000_000 },
    agentConfig: { NEXUS_COMMAND_OUTPUT_BYTES: String(OUTPUT_CAP), NEXUS_MAX_WRITE_BYTES: String(WRITE_CAP) },
  });
  api = apiClient(nexus.url, nexus.adminKey);
  const standIn = nexus.standIns.ops;
  if (!standIn) throw new Error("the ops stand-in did not start");
  endpoint = standIn.url;
  workspace = nexus.agentConfig.NEXUS_WORKSPACE_DIR ?? "";

  cpSync(FIXTURES, workspace, { recursive: true });
  outside = mkdtempSync(join(tmpdir(), "nexus-ops-outside-"));
  writeFileSync(join(outside, "secret.txt"), SECRET);
  writeFileSync(join(workspace, "canary.txt"), CANARY);
  writeFileSync(join(workspace, "big.txt"), "0123456789abcdef\n".repeat(2000));
  symlinkSync(outside, join(workspace, "escape")); // a directory out
  symlinkSync(join(outside, "secret.txt"), join(workspace, "escape-file")); // a file out
  symlinkSync("/etc", join(workspace, "etc-link"));
  symlinkSync("notes.txt", join(workspace, "notes-link")); // stays inside
  execFileSync("mkfifo", [join(workspace, "fifo")]);
});

afterAll(async () => {
  await nexus?.stop();
  for (const { server } of canaries) {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
  if (outside) rmSync(outside, { recursive: true, force: true });
});

type Request = [action: string, params: Record<string, unknown>];

/**
 * Submits all requests at once, then waits for them one after the other: many waiters polling side by side
 * would load the emulated table more than the tasks do.
 */
async function runAll(requests: Request[]) {
  const submitted = await Promise.all(
    requests.map(([action, params]) => api.post("/v1/tasks", { agentId: "ops", action, params })),
  );
  const out: Array<{ status: number; task?: Json }> = [];
  for (const reply of submitted) {
    out.push(reply.status === 202 ? { status: 202, task: await api.waitForTask(reply.body.id) } : reply);
  }
  return out;
}

async function succeededAll(requests: Request[]) {
  return (await runAll(requests)).map(({ status, task }, i) => {
    expect(status, JSON.stringify(requests[i])).toBe(202);
    expect(task.status, `${JSON.stringify(requests[i])}: ${JSON.stringify(task.error)}`).toBe("succeeded");
    return task.result;
  });
}

async function succeeded(action: string, params: Record<string, unknown>) {
  const [result] = await succeededAll([[action, params]]);
  return result;
}

/**
 * How each request was refused: "400"/"413" at the API (the schema or the size cap caught it), or the failed
 * task's error code (after one attempt, not retriable). Anything that ran shows as `succeeded: …`.
 */
async function refusals(requests: Request[]): Promise<string[]> {
  return (await runAll(requests)).map(({ status, task }) => {
    if (status !== 202) return String(status);
    if (task.status !== "failed") return `${task.status}: ${JSON.stringify(task.result).slice(0, 200)}`;
    expect(task.attempts).toBe(1);
    expect(task.error.retriable).toBe(false);
    return task.error.code;
  });
}

/** What the outside directory holds, to show nothing was written, changed or removed there. */
const outsideState = () =>
  readdirSync(outside)
    .sort()
    .map((name) => `${name}:${readFileSync(join(outside, name), "utf8")}`);
const workspaceNames = () => readdirSync(workspace).sort();

describe("ops agent end to end", () => {
  it("registers ops as a built-in agent with its six actions and health", async () => {
    const reply = await api.get("/v1/agents/ops");
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: "ops", kind: "ops", builtin: true, status: "active" });
    expect(reply.body.actions.map((a: { name: string }) => a.name)).toEqual([
      "run_command",
      "read_file",
      "write_file",
      "list_files",
      "delete_file",
      "http_check",
      "health",
    ]);
    expect(nexus.standIns.ops?.describe.join("\n")).toContain(workspace);
  });

  it("runs allow-listed commands on the fixture workspace and returns their real output", async () => {
    const [count, found, listing, head, tail, lines, cwd, date, df, uptime] = await succeededAll([
      ["run_command", { command: "grep", args: ["-c", "ERROR", "logs/app.log"] }],
      ["run_command", { command: "find", args: [".", "-name", "*.log", "-type", "f"] }],
      ["run_command", { command: "ls", args: ["-1", "logs"] }],
      ["run_command", { command: "head", args: ["-n", "1", "notes.txt"] }],
      ["run_command", { command: "tail", args: ["-n", "1", "data.csv"] }],
      ["run_command", { command: "wc", args: ["-l", "logs/app.log"] }],
      ["run_command", { command: "grep", args: ["-rn", "ERROR", "."], cwd: "logs" }],
      ["run_command", { command: "date", args: ["-u", "+%Y"] }],
      ["run_command", { command: "df", args: ["-h"] }],
      ["run_command", { command: "uptime", args: [] }],
    ]);
    expect(count).toMatchObject({ exitCode: 0, stdout: "2\n", stderr: "", truncated: false, timedOut: false });
    expect(count.durationMs).toBeGreaterThanOrEqual(0);
    expect(found.stdout.trim().split("\n").sort()).toEqual(["./logs/app.log", "./logs/archive/old.log"]);
    expect(listing.stdout).toBe("app.log\narchive\n");
    expect(head.stdout).toBe("Nexus ops fixture workspace.\n");
    expect(tail.stdout).toBe("3,washers,75\n");
    expect(lines.stdout).toBe("6 logs/app.log\n");
    expect(cwd).toMatchObject({ cwd: "logs", exitCode: 0 });
    expect(cwd.stdout.trim().split("\n")).toHaveLength(3);
    expect(date.stdout).toBe(`${new Date().getUTCFullYear()}\n`);
    expect(df).toMatchObject({ exitCode: 0 });
    expect(df.stdout).toMatch(/^Filesystem/);
    expect(uptime).toMatchObject({ exitCode: 0 });
    expect(uptime.stdout).toContain("load average");
  });

  it("never follows a symlink out while recursing (grep -r, find, ls -R)", async () => {
    const [grep, find, ls] = await succeededAll([
      ["run_command", { command: "grep", args: ["-r", "TOP-SECRET", "."] }],
      ["run_command", { command: "find", args: [".", "-name", "secret.txt"] }],
      ["run_command", { command: "ls", args: ["-R"] }],
    ]);
    expect(grep).toMatchObject({ exitCode: 1, stdout: "" });
    expect(find).toMatchObject({ exitCode: 0, stdout: "" });
    expect(ls.stdout).not.toContain("secret.txt");
  });

  it("reports a failing command as a result, caps output, and kills a command at its timeout", async () => {
    const [missing, big, blocked] = await succeededAll([
      ["run_command", { command: "cat", args: ["missing.txt"] }],
      ["run_command", { command: "cat", args: ["big.txt"] }],
      ["run_command", { command: "cat", args: ["fifo"], timeoutMs: 300 }],
    ]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("missing.txt: No such file or directory");
    expect(big).toMatchObject({ exitCode: 0, truncated: true, stdoutBytes: 34_000 });
    expect(big.stdout).toHaveLength(OUTPUT_CAP);
    expect(blocked).toMatchObject({ timedOut: true, signal: "SIGKILL", exitCode: null });
  });

  it("round-trips the file actions", async () => {
    const written = await succeeded("write_file", { path: "new/deep/file.txt", content: "first line\n" });
    expect(written).toMatchObject({ path: "new/deep/file.txt", created: true, bytesWritten: 11, size: 11 });
    expect(readFileSync(join(workspace, "new/deep/file.txt"), "utf8")).toBe("first line\n");
    const appended = await succeeded("write_file", { path: "new/deep/file.txt", content: "second\n", mode: "append" });
    expect(appended).toMatchObject({ created: false, size: 18 });

    const [[exists, notEmpty], [read, partial, viaLink, listed, logs]] = await Promise.all([
      refusals([
        ["write_file", { path: "new/deep/file.txt", content: "x", mode: "create" }],
        ["delete_file", { path: "new/deep" }],
      ]),
      succeededAll([
        ["read_file", { path: "new/deep/file.txt" }],
        ["read_file", { path: "notes.txt", maxBytes: 5 }],
        ["read_file", { path: "notes-link" }],
        ["list_files", { recursive: true }],
        ["list_files", { path: "logs", maxEntries: 1 }],
      ]),
    ]);
    expect(read).toMatchObject({ encoding: "utf8", content: "first line\nsecond\n", size: 18, truncated: false });
    expect(Date.parse(read.mtime)).toBeGreaterThan(0);
    expect(exists).toBe("file_exists");
    expect(partial).toMatchObject({ content: "Nexus", truncated: true, bytesRead: 5 });
    expect(viaLink.content).toContain("quick brown fox");
    const byPath = Object.fromEntries(listed.entries.map((e: Json) => [e.path, e.type]));
    expect(byPath).toMatchObject({
      "notes.txt": "file",
      logs: "directory",
      "logs/archive/old.log": "file",
      "new/deep/file.txt": "file",
      escape: "symlink",
      fifo: "other",
    });
    expect(Object.keys(byPath).some((p) => p.startsWith("escape/"))).toBe(false);
    const appLog = statSync(join(FIXTURES, "logs/app.log")).size;
    expect(logs).toMatchObject({ truncated: true, entries: [{ path: "logs/app.log", type: "file", size: appLog }] });
    expect(notEmpty).toBe("directory_not_empty");

    expect(await succeeded("delete_file", { path: "new/deep/file.txt" })).toMatchObject({
      deleted: true,
      type: "file",
    });
    expect(await succeeded("delete_file", { path: "new/deep" })).toMatchObject({ deleted: true, type: "directory" });
    const [again, [gone, directory]] = await Promise.all([
      succeeded("delete_file", { path: "new/deep" }),
      refusals([
        ["read_file", { path: "new/deep/file.txt" }],
        ["read_file", { path: "logs" }],
      ]),
    ]);
    expect(again).toMatchObject({ deleted: false });
    expect(gone).toBe("not_found");
    expect(directory).toBe("not_a_file");
    expect(existsSync(join(workspace, "new/deep"))).toBe(false);
  });

  it("checks allow-listed endpoints: status, redirects inside followed, wrong status is ok: false", async () => {
    const [[health, inside, unavailable, expected, head], refused] = await Promise.all([
      succeededAll([
        ["http_check", { url: `${endpoint}/health` }],
        ["http_check", { url: `${endpoint}/redirect-inside` }],
        ["http_check", { url: `${endpoint}/status/503` }],
        ["http_check", { url: `${endpoint}/status/503`, expectStatus: 503 }],
        ["http_check", { url: `${endpoint}/health`, method: "HEAD" }],
      ]),
      refusals([
        ["http_check", { url: `${endpoint}/redirect-outside` }],
        ["http_check", { url: `${endpoint}/loop` }],
      ]),
    ]);
    expect(health).toMatchObject({ status: 200, ok: true, finalUrl: `${endpoint}/health`, redirects: [] });
    expect(health.durationMs).toBeGreaterThanOrEqual(0);
    expect(inside).toMatchObject({ status: 200, ok: true, finalUrl: `${endpoint}/health` });
    expect(inside.redirects).toEqual([
      { url: `${endpoint}/redirect-inside`, status: 302, location: `${endpoint}/health` },
    ]);
    expect(unavailable).toMatchObject({ status: 503, ok: false });
    expect(expected).toMatchObject({ status: 503, ok: true });
    expect(head).toMatchObject({ status: 200, method: "HEAD" });
    expect(refused).toEqual(["host_not_allowed", "too_many_redirects"]);
  });
});

describe("ops attack corpora: all refused, nothing executed, written or fetched", () => {
  it("refuses commands off the allow-list at the API", async () => {
    const commands = ["rm", "sh", "bash", "/bin/sh", "python3", "node", "env", "xargs", "grep;rm", "../bin/ls", "LS"];
    const codes = await refusals(commands.map((command) => ["run_command", { command, args: ["-c", "id"] }]));
    expect(codes).toEqual(commands.map(() => "400"));
  });

  it("passes shell syntax to the binary as literal arguments: harmless, nothing run", async () => {
    const payloads = [
      "canary.txt; rm canary.txt",
      "canary.txt && rm canary.txt",
      "canary.txt || touch pwned",
      "canary.txt | tee pwned",
      "`touch pwned`",
      "$(touch pwned)",
      "canary.txt\nrm canary.txt",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, sent literally on purpose
      "${IFS}touch${IFS}pwned",
      "canary.txt > pwned",
      "*",
    ];
    const results = await succeededAll(
      payloads.flatMap((payload): Request[] => [
        ["run_command", { command: "cat", args: [payload] }],
        ["run_command", { command: "grep", args: ["-F", payload, "canary.txt"] }],
        ["run_command", { command: "find", args: [".", "-name", payload, "-print"] }],
      ]),
    );
    for (const result of results) {
      expect(result.stdout).not.toContain("canary: nothing");
      if (result.args[0] !== ".") expect(result.exitCode).not.toBe(0); // cat: no such file; grep: no match
    }
    expect(readFileSync(join(workspace, "canary.txt"), "utf8")).toBe(CANARY);
    expect(existsSync(join(workspace, "pwned"))).toBe(false);
  });

  it("refuses flags that write, delete, execute or follow symlinks, and smuggled arguments", async () => {
    const before = workspaceNames();
    const corpus: Array<[string, string[], string]> = [
      ["find", [".", "-name", "canary.txt", "-exec", "rm", "{}", ";"], "flag_not_allowed"],
      ["find", [".", "-name", "canary.txt", "-execdir", "rm", "{}", "+"], "flag_not_allowed"],
      ["find", [".", "-name", "canary.txt", "-delete"], "flag_not_allowed"],
      ["find", [".", "-ok", "rm", "{}", ";"], "flag_not_allowed"],
      ["find", [".", "-okdir", "rm", "{}", ";"], "flag_not_allowed"],
      ["find", [".", "-fprint", "pwned"], "flag_not_allowed"],
      ["find", [".", "-fprintf", "pwned", "%p"], "flag_not_allowed"],
      ["find", [".", "-fprint0", "pwned"], "flag_not_allowed"],
      ["find", [".", "-fls", "pwned"], "flag_not_allowed"],
      ["find", ["-L", ".", "-name", "secret.txt"], "flag_not_allowed"],
      ["find", [".", "--exec=rm"], "flag_not_allowed"],
      ["find", [".", "-name", "x", "touch", "pwned"], "argument_not_allowed"],
      ["date", ["-s", "2030-01-01"], "flag_not_allowed"],
      ["date", ["--set=2030-01-01"], "flag_not_allowed"],
      ["date", ["010100002030"], "argument_not_allowed"],
      ["grep", ["--exec=rm", "x", "canary.txt"], "flag_not_allowed"],
      ["grep", ["-R", "TOP-SECRET", "."], "flag_not_allowed"],
      ["grep", ["-rie", "x", "."], "flag_not_allowed"],
      ["grep", ["--exclude-from=canary.txt", "x", "."], "flag_not_allowed"],
      ["tail", ["-f", "canary.txt"], "flag_not_allowed"],
      ["wc", ["--files0-from=canary.txt"], "flag_not_allowed"],
      ["ls", ["-L", "-R"], "flag_not_allowed"],
      ["cat", ["-"], "flag_not_allowed"],
      ["df", ["/"], "argument_not_allowed"],
    ];
    const [codes, [named, patterns]] = await Promise.all([
      refusals(corpus.map(([command, args]) => ["run_command", { command, args }])),
      // a value that spells a flag or a path is just a value
      succeededAll([
        ["run_command", { command: "find", args: [".", "-name", "-exec", "-print"] }],
        ["run_command", { command: "grep", args: ["-e", "-f", "-e", "/etc/passwd", "canary.txt"] }],
      ]),
    ]);
    expect(codes).toEqual(corpus.map(([, , code]) => code));
    expect(named).toMatchObject({ exitCode: 0, stdout: "" });
    expect(patterns).toMatchObject({ exitCode: 1, stdout: "" });
    expect(readFileSync(join(workspace, "canary.txt"), "utf8")).toBe(CANARY);
    expect(workspaceNames()).toEqual(before);
  });

  it("confines every path argument and the cwd to the workspace", async () => {
    const corpus: Array<[string, string[], string?]> = [
      ["cat", ["/etc/passwd"]],
      ["cat", ["../../etc/passwd"]],
      ["cat", ["logs/../../../etc/passwd"]],
      ["cat", ["~"]],
      ["cat", ["~/.ssh/id_rsa"]],
      ["cat", ["escape/secret.txt"]],
      ["cat", ["escape-file"]],
      ["head", ["-n", "1", "etc-link/passwd"]],
      ["ls", ["escape"]],
      ["ls", ["-la", "/"]],
      ["grep", ["-r", "root", "/etc"]],
      ["grep", ["/etc/passwd", "-e", "root"]],
      ["grep", ["-e", "root", "--", "/etc/passwd"]],
      ["grep", ["-f", "escape-file", "canary.txt"]],
      ["find", ["/", "-name", "passwd"]],
      ["find", ["escape", "-name", "*"]],
      ["find", [".", "-newer", "/etc/passwd"]],
      ["wc", ["-l", "--", "../secret"]],
      ["ls", [], "escape"],
      ["ls", [], "/etc"],
      ["ls", [], ".."],
    ];
    const codes = await refusals(
      corpus.map(([command, args, cwd]) => ["run_command", { command, args, ...(cwd === undefined ? {} : { cwd }) }]),
    );
    expect(codes).toEqual(corpus.map(() => "path_outside_workspace"));
  });

  it("refuses traversal and symlink escapes for every file action, and oversized writes", async () => {
    const outsideBefore = outsideState();
    const etcPasswd = statSync("/etc/passwd").mtimeMs;
    const corpus: Array<[string, Record<string, unknown>, string]> = [
      ["read_file", { path: "/etc/passwd" }, "path_outside_workspace"],
      ["read_file", { path: "../../../../etc/passwd" }, "path_outside_workspace"],
      ["read_file", { path: "logs/../../secret.txt" }, "path_outside_workspace"],
      ["read_file", { path: "~/.bashrc" }, "path_outside_workspace"],
      ["read_file", { path: "escape/secret.txt" }, "path_outside_workspace"],
      ["read_file", { path: "escape-file" }, "path_outside_workspace"],
      ["read_file", { path: "etc-link/passwd" }, "path_outside_workspace"],
      ["read_file", { path: "fifo" }, "not_a_file"],
      ["write_file", { path: "/tmp/nexus-pwned", content: "x" }, "path_outside_workspace"],
      ["write_file", { path: "../pwned", content: "x" }, "path_outside_workspace"],
      ["write_file", { path: "escape/secret.txt", content: "pwned" }, "path_outside_workspace"],
      ["write_file", { path: "escape/new.txt", content: "pwned" }, "path_outside_workspace"],
      ["write_file", { path: "escape/sub/new.txt", content: "pwned" }, "path_outside_workspace"],
      ["write_file", { path: "escape-file", content: "pwned" }, "symlink_not_allowed"],
      ["write_file", { path: "escape-file", content: "pwned", mode: "append" }, "symlink_not_allowed"],
      ["write_file", { path: "notes-link", content: "pwned" }, "symlink_not_allowed"],
      ["write_file", { path: "etc-link/passwd", content: "pwned", mode: "append" }, "path_outside_workspace"],
      ["write_file", { path: "logs", content: "x" }, "not_a_file"],
      ["write_file", { path: "too-big.txt", content: "x".repeat(WRITE_CAP + 1) }, "content_too_large"],
      ["write_file", { path: "too-big.txt", content: "x".repeat(70_000) }, "content_too_large"],
      ["list_files", { path: "/" }, "path_outside_workspace"],
      ["list_files", { path: ".." }, "path_outside_workspace"],
      ["list_files", { path: "escape" }, "path_outside_workspace"],
      ["list_files", { path: "etc-link", recursive: true }, "path_outside_workspace"],
      ["delete_file", { path: "escape-file" }, "symlink_not_allowed"],
      ["delete_file", { path: "escape/secret.txt" }, "path_outside_workspace"],
      ["delete_file", { path: "../canary.txt" }, "path_outside_workspace"],
      ["delete_file", { path: "/etc/passwd" }, "path_outside_workspace"],
      ["delete_file", { path: "etc-link/passwd" }, "path_outside_workspace"],
      ["delete_file", { path: "." }, "path_not_allowed"],
      ["delete_file", { path: "canary\u0000.txt" }, "400"],
    ];
    const codes = await refusals(corpus.map(([action, params]) => [action, params]));
    expect(codes).toEqual(corpus.map(([, , code]) => code));
    expect(outsideState()).toEqual(outsideBefore);
    expect(readFileSync(join(workspace, "canary.txt"), "utf8")).toBe(CANARY);
    expect(readFileSync(join(workspace, "notes.txt"), "utf8")).toContain("quick brown fox");
    expect(existsSync(join(workspace, "too-big.txt"))).toBe(false);
    expect(existsSync("/tmp/nexus-pwned")).toBe(false);
    expect(statSync("/etc/passwd").mtimeMs).toBe(etcPasswd);
  });

  it("refuses SSRF targets and redirects into them before connecting", async () => {
    const standInPort = new URL(endpoint).port;
    const canary = `127.0.0.1:${canaryPort}`;
    const redirect = (to: string) => `${endpoint}/redirect?to=${encodeURIComponent(to)}`;
    const corpus: Array<[string, string]> = [
      ["http://10.0.0.1/", "host_not_allowed"],
      ["http://169.254.169.254/latest/meta-data/", "host_not_allowed"],
      [`http://[::1]:${canaryPort}/`, "host_not_allowed"],
      [`http://${canary}/`, "host_not_allowed"],
      [`http://localhost:${canaryPort}/`, "host_not_allowed"],
      [`http://2130706433:${canaryPort}/`, "host_not_allowed"],
      [`http://2130706433:${standInPort}/health`, "host_not_allowed"],
      [`http://0x7f000001:${canaryPort}/`, "host_not_allowed"],
      [`http://127.1:${standInPort}/health`, "host_not_allowed"],
      [`http://127.0.0.1:${standInPort}@${canary}/`, "host_not_allowed"],
      [`http://[::ffff:127.0.0.1]:${canaryPort}/`, "host_not_allowed"],
      [`http://user:pw@127.0.0.1:${standInPort}/health`, "credentials_not_allowed"],
      [redirect(`http://${canary}/`), "host_not_allowed"],
      [redirect(`//${canary}/x`), "host_not_allowed"],
      [redirect(`http://2130706433:${canaryPort}/`), "host_not_allowed"],
      [redirect(`http://[::1]:${canaryPort}/`), "host_not_allowed"],
      [redirect("http://10.0.0.1/"), "host_not_allowed"],
      [redirect("http://169.254.169.254/latest/meta-data/iam/"), "host_not_allowed"],
      [`${endpoint}/redirect-outside`, "host_not_allowed"],
      ["file:///etc/passwd", "400"],
      ["gopher://127.0.0.1:70/", "400"],
    ];
    const codes = await refusals(corpus.map(([url]) => ["http_check", { url }]));
    expect(codes).toEqual(corpus.map(([, code]) => code));
    for (const { hits } of canaries) expect(hits).toEqual([]);
  });
});
