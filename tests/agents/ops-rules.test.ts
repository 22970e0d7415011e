import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionError, validateParams } from "@nexus/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  COMMAND_RULES,
  checkCommandLine,
  confinePath,
  describeAllowList,
  runCommand,
} from "../../packages/agents/src/ops/commands.js";
import { DEFAULT_WORKSPACE_DIR, readOpsConfig } from "../../packages/agents/src/ops/config.js";
import { Workspace } from "../../packages/agents/src/ops/files.js";
import { checkUrl, httpCheck, parseAllowList } from "../../packages/agents/src/ops/http-check.js";
import { workspaceRoot } from "../../packages/agents/src/ops/paths.js";
import { opsSpec, WriteFileParams } from "../../packages/agents/src/ops/spec.js";
import { checkParamsSchema, type ParamsSchema, ParamsSchemaSchema } from "../../packages/core/src/params-schema.js";

const paramsOf = (name: string): ParamsSchema => {
  const action = opsSpec.actions.find((a) => a.name === name);
  if (!action) throw new Error(`no action ${name}`);
  return ParamsSchemaSchema.parse(action.params);
};

/** The error a call throws (or undefined), for tables of refusals. */
async function failure(run: () => unknown): Promise<ActionError | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    if (error instanceof ActionError) return error;
    throw error;
  }
}

describe("ops spec", () => {
  it("has params schemas in the registry's JSON-schema subset", () => {
    expect(opsSpec.actions.map((a) => a.name)).toEqual([
      "run_command",
      "read_file",
      "write_file",
      "list_files",
      "delete_file",
      "http_check",
      "health",
    ]);
    for (const action of opsSpec.actions) {
      const parsed = ParamsSchemaSchema.safeParse(action.params);
      expect(parsed.success, `${action.name}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      expect(() => checkParamsSchema(paramsOf(action.name))).not.toThrow();
    }
  });

  it.each([
    ["run_command", { command: "grep", args: ["-rn", "ERROR", "logs"], cwd: "logs", timeoutMs: 5000 }],
    ["run_command", { command: "uptime" }],
    ["read_file", { path: "notes.txt", maxBytes: 100 }],
    ["write_file", { path: "a/b.txt", content: "hi", mode: "append" }],
    ["write_file", { path: "bin", content: "AAEC", encoding: "base64", mode: "create" }],
    ["list_files", {}],
    ["list_files", { path: "logs", recursive: true, maxEntries: 10 }],
    ["delete_file", { path: "a/b.txt" }],
    ["http_check", { url: "http://127.0.0.1:8080/health" }],
    ["http_check", { url: "HTTPS://internal.example/", method: "HEAD", expectStatus: 204, timeoutMs: 1000 }],
  ])("accepts %s %j", (name, params) => {
    expect(validateParams(paramsOf(name), params)).toEqual([]);
  });

  it.each([
    ["run_command", { command: "rm", args: ["-rf", "/"] }, "params.command"],
    ["run_command", { command: "/bin/sh" }, "params.command"],
    ["run_command", { command: "ls", args: Array(51).fill("a") }, "params.args"],
    ["run_command", { command: "ls", args: ["a".repeat(1025)] }, "params.args.0"],
    ["run_command", { command: "ls", args: ["a\0b"] }, "params.args.0"],
    ["run_command", { command: "ls", timeoutMs: 60_000 }, "params.timeoutMs"],
    ["run_command", { command: "ls", shell: true }, "params"],
    ["read_file", { path: "" }, "params.path"],
    ["read_file", { path: "x", maxBytes: 10_000_000 }, "params.maxBytes"],
    ["write_file", { path: "x", content: "a".repeat(1_000_001) }, "params.content"],
    ["write_file", { path: "x", content: "a", mode: "truncate" }, "params.mode"],
    ["list_files", { maxEntries: 100_000 }, "params.maxEntries"],
    ["delete_file", { path: "a\0" }, "params.path"],
    ["http_check", { url: "file:///etc/passwd" }, "params.url"],
    ["http_check", { url: "gopher://127.0.0.1:70/" }, "params.url"],
    ["http_check", { url: "http://x/", method: "POST" }, "params.method"],
  ])("rejects %s %j at %s", (name, params, path) => {
    const issues = validateParams(paramsOf(name), params);
    expect(issues.map((i) => i.path)).toContain(path);
  });

  it("reads its settings with defaults and refuses malformed numbers", () => {
    expect(readOpsConfig({})).toMatchObject({
      workspaceDir: DEFAULT_WORKSPACE_DIR,
      httpAllow: "",
      commandTimeoutMs: 10_000,
      outputBytes: 65_536,
      maxWriteBytes: 1_000_000,
    });
    expect(readOpsConfig({ NEXUS_COMMAND_TIMEOUT_MS: "2500" }).commandTimeoutMs).toBe(2500);
    expect(() => readOpsConfig({ NEXUS_COMMAND_TIMEOUT_MS: "10s" })).toThrow(/NEXUS_COMMAND_TIMEOUT_MS/);
    expect(() => readOpsConfig({ NEXUS_COMMAND_TIMEOUT_MS: "60000" })).toThrow(/between/);
  });

  it("describes its allow-list for the docs", () => {
    const list = describeAllowList();
    expect(Object.keys(list).sort()).toEqual(
      ["cat", "date", "df", "find", "grep", "head", "ls", "tail", "uptime", "wc"].sort(),
    );
    expect(list.find.flags).toContain("-name");
    expect(list.find.flags).not.toContain("-exec");
    expect(list.grep.flags).toContain("-e VALUE");
    expect(Object.keys(COMMAND_RULES.date.flags)).not.toContain("-s");
  });
});

describe("run_command argument rules", () => {
  let root: string;
  let outside: string;
  beforeAll(async () => {
    const base = mkdtempSync(join(tmpdir(), "nexus-ops-rules-"));
    root = await workspaceRoot(join(base, "workspace"));
    outside = join(base, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "secret.txt"), "secret\n");
    mkdirSync(join(root, "logs"));
    writeFileSync(join(root, "notes.txt"), "notes\n");
    symlinkSync(outside, join(root, "escape"));
    symlinkSync(join(outside, "secret.txt"), join(root, "escape-file"));
    symlinkSync("notes.txt", join(root, "notes-link"));
    symlinkSync("/nonexistent-nexus-target", join(root, "dangling"));
    symlinkSync("loop", join(root, "loop"));
  });
  afterAll(() => {
    rmSync(join(root, ".."), { recursive: true, force: true });
  });

  const allowedLines: Array<[string, string[]]> = [
    ["grep", ["-rn", "ERROR", "logs"]],
    ["grep", ["-e", "x", "-e", "-y", "notes.txt"]],
    ["grep", ["--include=*.log", "-r", "--regexp=ERROR", "."]],
    ["grep", ["-c", "--", "-v", "notes.txt"]],
    ["grep", ["-f", "notes.txt", "notes.txt"]],
    ["find", [".", "-name", "*.log", "-type", "f"]],
    ["find", [".", "-name", "-exec", "-print"]],
    ["find", ["logs", "-maxdepth", "1", "!", "-name", "x", "-o", "(", "-type", "d", ")"]],
    ["find", ["-name", "notes.txt"]],
    ["find", [".", "-newer", "notes.txt", "-size", "+1k", "-mtime", "-7"]],
    ["ls", ["-la", "logs"]],
    ["ls", ["-lR1"]],
    ["ls", ["notes-link", "dangling-nothing"]],
    ["cat", ["-n", "notes.txt"]],
    ["cat", ["--", "-n"]],
    ["head", ["-n", "2", "notes.txt"]],
    ["tail", ["-n", "+2", "--quiet", "notes.txt"]],
    ["wc", ["-lwc", "notes.txt"]],
    ["df", ["-hT"]],
    ["uptime", ["-p"]],
    ["date", ["-u", "+%Y-%m-%d"]],
    ["date", ["--iso-8601=seconds"]],
    ["date", ["-d", "@0", "-u", "+%s"]],
    ["date", ["--date=2025-01-02 03:04:05 +0100", "+%F"]],
  ];
  it.each(allowedLines)("allows %s %j", async (command, args) => {
    const paths = checkCommandLine(command, args);
    for (const path of paths) await confinePath(root, root, path);
  });

  const refusedFlags: Array<[string, string[], string]> = [
    ["rm", ["-rf", "."], "command_not_allowed"],
    ["sh", ["-c", "id"], "command_not_allowed"],
    ["/bin/sh", [], "command_not_allowed"],
    ["find", [".", "-exec", "rm", "{}", ";"], "flag_not_allowed"],
    ["find", [".", "-name", "x", "-execdir", "rm", "{}", "+"], "flag_not_allowed"],
    ["find", [".", "-ok", "rm", "{}", ";"], "flag_not_allowed"],
    ["find", [".", "-okdir", "rm", "{}", ";"], "flag_not_allowed"],
    ["find", [".", "-delete"], "flag_not_allowed"],
    ["find", [".", "-fprint", "out.txt"], "flag_not_allowed"],
    ["find", [".", "-fprint0", "out.txt"], "flag_not_allowed"],
    ["find", [".", "-fprintf", "out.txt", "%p"], "flag_not_allowed"],
    ["find", [".", "-fls", "out.txt"], "flag_not_allowed"],
    ["find", ["-L", ".", "-name", "x"], "flag_not_allowed"],
    ["find", [".", "-follow"], "flag_not_allowed"],
    ["find", [".", "--exec=rm"], "flag_not_allowed"],
    ["find", [".", "-files0-from", "notes.txt"], "flag_not_allowed"],
    ["find", [".", "-name", "x", "rm"], "argument_not_allowed"],
    ["find", [".", "-name"], "argument_not_allowed"],
    ["find", [".", "-type", "f;rm"], "argument_not_allowed"],
    ["date", ["-s", "2030-01-01"], "flag_not_allowed"],
    ["date", ["--set=2030-01-01"], "flag_not_allowed"],
    ["date", ["--set", "2030-01-01"], "flag_not_allowed"],
    ["date", ["-us", "2030-01-01"], "flag_not_allowed"],
    ["date", ["010100002030"], "argument_not_allowed"],
    ["date", ["--iso-8601", "seconds"], "argument_not_allowed"],
    ["date", ["-f", "notes.txt"], "flag_not_allowed"],
    ["date", ["-d", 'TZ="/etc/passwd" now'], "argument_not_allowed"],
    ["date", ["--", "010100002030"], "flag_not_allowed"],
    ["grep", ["-R", "x", "."], "flag_not_allowed"],
    ["grep", ["--exec=rm", "x"], "flag_not_allowed"],
    ["grep", ["-rie", "x", "."], "flag_not_allowed"],
    ["grep", ["--exclude-from=notes.txt", "x", "."], "flag_not_allowed"],
    ["grep", ["-5", "x", "notes.txt"], "flag_not_allowed"],
    ["grep", ["--count=1", "x", "notes.txt"], "flag_not_allowed"],
    ["grep", ["-m", "1;rm", "x", "notes.txt"], "argument_not_allowed"],
    ["grep", ["-e"], "argument_not_allowed"],
    ["grep", [], "argument_not_allowed"],
    ["tail", ["-f", "notes.txt"], "flag_not_allowed"],
    ["tail", ["--follow=name", "notes.txt"], "flag_not_allowed"],
    ["head", ["-n5", "notes.txt"], "flag_not_allowed"],
    ["wc", ["--files0-from=notes.txt"], "flag_not_allowed"],
    ["ls", ["-L", "escape"], "flag_not_allowed"],
    ["ls", ["--dereference", "escape"], "flag_not_allowed"],
    ["cat", ["-"], "flag_not_allowed"],
    ["df", ["/"], "argument_not_allowed"],
    ["df", ["--", "/"], "flag_not_allowed"],
    ["uptime", ["now"], "argument_not_allowed"],
    ["ls", ["a\0b"], "argument_not_allowed"],
  ];
  it.each(refusedFlags)("refuses %s %j (%s)", async (command, args, code) => {
    const error = await failure(() => checkCommandLine(command, args));
    expect(error?.code).toBe(code);
    expect(error?.retriable).toBe(false);
  });

  const escapes: Array<[string, string[]]> = [
    ["cat", ["/etc/passwd"]],
    ["cat", ["../../etc/passwd"]],
    ["cat", ["logs/../../outside/secret.txt"]],
    ["cat", ["~"]],
    ["cat", ["~/.bashrc"]],
    ["cat", ["escape/secret.txt"]],
    ["cat", ["escape-file"]],
    ["cat", ["escape/"]],
    ["cat", ["loop"]],
    ["ls", ["escape"]],
    ["grep", ["-r", "root", "/etc"]],
    ["grep", ["/etc/passwd", "-e", "root"]], // getopt permutes: with -e, every operand is a file
    ["grep", ["-e", "root", "--", "/etc/passwd"]],
    ["grep", ["-f", "/etc/passwd", "notes.txt"]],
    ["grep", ["--file=escape-file", "notes.txt"]],
    ["find", ["/etc", "-name", "passwd"]],
    ["find", ["escape", "-name", "*"]],
    ["find", [".", "-newer", "/etc/passwd"]],
    ["head", ["-n", "1", "--", "../secret"]],
    ["wc", ["-l", "escape/missing/deeper.txt"]],
  ];
  it.each(escapes)("confines %s %j to the workspace", async (command, args) => {
    const paths = checkCommandLine(command, args);
    const errors = await Promise.all(paths.map((path) => failure(() => confinePath(root, root, path))));
    expect(errors.map((e) => e?.code)).toContain("path_outside_workspace");
  });

  it("runs the binary without a shell, in a minimal environment, with a timeout and an output cap", async () => {
    const options = { root, defaultTimeoutMs: 5000, outputBytes: 4 };
    const out = await runCommand({ command: "cat", args: ["notes.txt"] }, options);
    expect(out).toMatchObject({ exitCode: 0, stdout: "note", truncated: true, stdoutBytes: 6, timedOut: false });
    const literal = await runCommand(
      { command: "ls", args: ["$(id)", "notes.txt;id"] },
      { ...options, outputBytes: 4096 },
    );
    expect(literal.exitCode).not.toBe(0);
    expect(literal.stderr).toContain("cannot access '$(id)'");
    expect(literal.stderr).toContain("cannot access 'notes.txt;id'");
    const refused = await failure(() => runCommand({ command: "ls", args: [], cwd: "escape" }, options));
    expect(refused?.code).toBe("path_outside_workspace");
  });

  it("kills the command at its timeout, and when the action is aborted", async () => {
    execFileSync("mkfifo", [join(root, "fifo")]); // cat blocks on a FIFO without a writer
    const options = { root, defaultTimeoutMs: 30_000, outputBytes: 1024 };
    const timed = await runCommand({ command: "cat", args: ["fifo"], timeoutMs: 300 }, options);
    expect(timed).toMatchObject({ timedOut: true, signal: "SIGKILL", exitCode: null });
    expect(timed.durationMs).toBeLessThan(5000);
    const controller = new AbortController();
    const running = runCommand({ command: "cat", args: ["fifo"] }, { ...options, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect(await running).toMatchObject({ timedOut: false, signal: "SIGKILL" });
  });
});

describe("http_check URL rules", () => {
  const { entries: allow, invalid } = parseAllowList(
    " 127.0.0.1:8080 , internal.example,[::1]:9000, 2130706433, 127.1:80, http://x, a b, [::0001]:1, host:99999",
  );

  it("parses the allow-list and sets aside entries not written canonically", () => {
    expect(allow).toEqual([
      { host: "127.0.0.1", port: 8080 },
      { host: "internal.example" },
      { host: "[::1]", port: 9000 },
    ]);
    expect(invalid).toEqual(["2130706433", "127.1:80", "http://x", "a b", "[::0001]:1", "host:99999"]);
    expect(parseAllowList("").entries).toEqual([]);
  });

  it.each([
    "http://127.0.0.1:8080/health",
    "http://internal.example/",
    "https://internal.example/x?y=1",
    "HTTP://INTERNAL.EXAMPLE/",
    "http://[::1]:9000/",
  ])("allows %s", (url) => {
    expect(checkUrl(url, allow).href).toBe(new URL(url).href);
  });

  it.each([
    ["http://127.0.0.1:8081/", "host_not_allowed"],
    ["http://127.0.0.1/", "host_not_allowed"],
    ["http://10.0.0.1/", "host_not_allowed"],
    ["http://169.254.169.254/latest/meta-data/", "host_not_allowed"],
    ["http://[::1]:8080/", "host_not_allowed"],
    ["http://[::ffff:127.0.0.1]:8080/", "host_not_allowed"],
    ["http://[0:0:0:0:0:0:0:1]:9000/", "host_not_allowed"],
    ["http://2130706433:8080/", "host_not_allowed"],
    ["http://0x7f000001:8080/", "host_not_allowed"],
    ["http://0177.0.0.1:8080/", "host_not_allowed"],
    ["http://127.1:8080/", "host_not_allowed"],
    ["http://127.0.0.1.:8080/", "host_not_allowed"],
    ["http://%31%32%37.0.0.1:8080/", "host_not_allowed"],
    ["http://localhost:8080/", "host_not_allowed"],
    ["http://internal.example:8443/", "host_not_allowed"],
    ["http://internal.example.evil.test/", "host_not_allowed"],
    ["http://127.0.0.1:8080@evil.test/", "host_not_allowed"],
    ["http://evil.test\\@127.0.0.1:8080/", "host_not_allowed"],
    ["http://evil.test#@127.0.0.1:8080/", "host_not_allowed"],
    ["http:///127.0.0.1:8080/", "host_not_allowed"],
    ["http:\\\\127.0.0.1:8080/", "host_not_allowed"],
    ["http://user:pw@127.0.0.1:8080/", "credentials_not_allowed"],
    ["file:///etc/passwd", "scheme_not_allowed"],
    ["ftp://internal.example/", "scheme_not_allowed"],
    ["not a url", "url_invalid"],
  ])("refuses %s (%s)", async (url, code) => {
    const error = await failure(() => checkUrl(url, allow));
    expect(error?.code).toBe(code);
    expect(error?.retriable).toBe(false);
  });

  describe("against a local server", () => {
    let server: Server;
    let port: number;
    let closedPort: number;
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === "/slow") {
          const timer = setTimeout(() => res.end("late"), 5000);
          res.once("close", () => clearTimeout(timer));
          return;
        }
        if (req.url === "/see-other") {
          res.writeHead(303, { location: "/ok" }).end();
          return;
        }
        res.writeHead(req.url === "/ok" ? 200 : 404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      port = (server.address() as AddressInfo).port;
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      closedPort = (probe.address() as AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    });

    const options = () => ({
      allow: parseAllowList(`127.0.0.1:${port},127.0.0.1:${closedPort}`).entries,
      defaultTimeoutMs: 2000,
    });
    const params = (url: string, extra = {}) => ({ url, method: "GET" as const, followRedirects: true, ...extra });

    it("follows a 303 and reports status and timing", async () => {
      const out = await httpCheck(params(`http://127.0.0.1:${port}/see-other`), options());
      expect(out).toMatchObject({ status: 200, ok: true, finalUrl: `http://127.0.0.1:${port}/ok` });
      expect(out.redirects).toEqual([
        { url: `http://127.0.0.1:${port}/see-other`, status: 303, location: `http://127.0.0.1:${port}/ok` },
      ]);
      const unfollowed = await httpCheck(
        params(`http://127.0.0.1:${port}/see-other`, { followRedirects: false, expectStatus: 303 }),
        options(),
      );
      expect(unfollowed).toMatchObject({ status: 303, ok: true, redirects: [] });
    });

    it("makes network errors and timeouts retriable", async () => {
      const refused = await failure(() => httpCheck(params(`http://127.0.0.1:${closedPort}/`), options()));
      expect(refused).toMatchObject({ code: "http_unreachable", retriable: true });
      const slow = await failure(() =>
        httpCheck(params(`http://127.0.0.1:${port}/slow`, { timeoutMs: 200 }), options()),
      );
      expect(slow).toMatchObject({ code: "http_timeout", retriable: true });
    });
  });
});

describe("workspace file rules", () => {
  let base: string;
  let workspace: Workspace;
  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), "nexus-ops-files-"));
    workspace = new Workspace(join(base, "ws", "nested"), { maxWriteBytes: 64, maxFileBytes: 100 });
    mkdirSync(join(base, "outside"));
    const root = await workspace.root(); // created when missing
    symlinkSync(join(base, "outside"), join(root, "escape"));
    symlinkSync("/nonexistent-nexus-target", join(root, "dangling"));
  });
  afterAll(() => {
    rmSync(base, { recursive: true, force: true });
  });

  const write = (input: Record<string, unknown>) => workspace.write(WriteFileParams.parse(input));

  it("enforces the write and file size caps, base64 and create mode", async () => {
    expect(await write({ path: "a.txt", content: "x".repeat(60) })).toMatchObject({ size: 60, created: true });
    expect((await failure(() => write({ path: "a.txt", content: "x".repeat(65) })))?.code).toBe("content_too_large");
    expect((await failure(() => write({ path: "a.txt", content: "x".repeat(50), mode: "append" })))?.code).toBe(
      "file_too_large",
    );
    expect((await failure(() => write({ path: "a.txt", content: "y", mode: "create" })))?.code).toBe("file_exists");
    expect((await failure(() => write({ path: "b.bin", content: "not base64!", encoding: "base64" })))?.code).toBe(
      "content_invalid",
    );
    await write({ path: "b.bin", content: Buffer.from([0, 1, 2, 255]).toString("base64"), encoding: "base64" });
    expect(await workspace.read({ path: "b.bin", maxBytes: 100 })).toMatchObject({
      encoding: "base64",
      content: "AAEC/w==",
      size: 4,
    });
  });

  it("never writes through a dangling symlink or makes directories through one", async () => {
    expect((await failure(() => write({ path: "dangling", content: "x" })))?.code).toBe("symlink_not_allowed");
    expect((await failure(() => write({ path: "dangling/sub/x.txt", content: "x" })))?.code).toBe(
      "path_outside_workspace",
    );
    expect((await failure(() => write({ path: "escape/sub/x.txt", content: "x" })))?.code).toBe(
      "path_outside_workspace",
    );
    expect(() => readFileSync("/nonexistent-nexus-target")).toThrow();
  });

  it("cuts a read at maxBytes without splitting a character", async () => {
    await write({ path: "utf8.txt", content: "héllo" });
    expect(await workspace.read({ path: "utf8.txt", maxBytes: 2 })).toMatchObject({
      encoding: "utf8",
      content: "h",
      truncated: true,
      bytesRead: 2,
      size: 6,
    });
  });
});
