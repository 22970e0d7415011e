import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, realpath, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { NonRetriableError } from "@nexus/core";
import { resolveDirectory, resolveInside, splitRelative } from "./paths.js";
import type { AllowedCommand, RunCommandParams } from "./spec.js";
import { ALLOWED_COMMANDS, MAX_ARG_LENGTH, MAX_ARGS } from "./spec.js";

/**
 * Where the binaries are looked for, in order; nothing from the request or the environment counts. `/opt/bin` is
 * where a Lambda layer puts binaries the runtime image lacks (AL2023 Lambda images have no `find` or `uptime`).
 */
export const SYSTEM_BIN_DIRS = ["/usr/bin", "/bin", "/opt/bin"] as const;

/** The whole environment a command gets: nothing of the agent's own (no credentials, no NEXUS_* settings). */
export const COMMAND_ENV: Readonly<Record<string, string>> = {
  PATH: "/usr/bin:/bin",
  LANG: "C",
  LC_ALL: "C",
  TZ: "UTC",
};

/**
 * What a flag takes: `null` for none (a switch), `"text"` for any value (a pattern, a glob), `"path"` for a path
 * that must resolve inside the workspace, a RegExp the value must match, or `{ attached }` for an optional value,
 * which getopt only takes in the `--flag=value` form (the next argument stays an operand).
 */
type FlagValue = null | "text" | "path" | RegExp | { attached: RegExp };

interface CommandRule {
  /** Allowed flags, spelled exactly (long value flags also as `--flag=value`). Anything else is refused. */
  flags: Record<string, FlagValue>;
  /** What the non-flag arguments are. */
  operands: "paths" | "grep" | "date" | "none";
  /** Whether `--` (end of flags; what follows is operands) is accepted. */
  doubleDash: boolean;
}

const COUNT = /^\d{1,9}$/;
const LINES = /^[+-]?\d{1,12}$/;
/** A date for `date -d`: no quotes or `=`, so no `TZ="…"` naming a file to load. */
const DATE_STRING = /^[\w :+\-.,@/]{1,100}$/;

/**
 * run_command's allow-list. Every flag not listed is refused, whatever it does; short switches may be combined
 * (`-rin`), flags that take a value may not (`-n 5`, not `-n5`). Path operands and path values must resolve
 * inside the workspace (symlinks followed). There is no shell: no globbing, pipes, redirection or expansion.
 */
/** head and tail take the same flags (tail's following flags are left out on purpose). */
const HEAD_TAIL_FLAGS = {
  "-n": LINES,
  "--lines": LINES,
  "-c": LINES,
  "--bytes": LINES,
  "-q": null,
  "--quiet": null,
  "-v": null,
  "--verbose": null,
} as const;

export const COMMAND_RULES: Readonly<Record<Exclude<AllowedCommand, "find">, CommandRule>> = {
  grep: {
    // Not: -R (follows every symlink), -d/-D, --exclude-from, --devices, -P, context as -NUM.
    flags: {
      "-r": null,
      "--recursive": null,
      "-i": null,
      "--ignore-case": null,
      "-n": null,
      "--line-number": null,
      "-l": null,
      "--files-with-matches": null,
      "-L": null,
      "--files-without-match": null,
      "-c": null,
      "--count": null,
      "-v": null,
      "--invert-match": null,
      "-E": null,
      "--extended-regexp": null,
      "-F": null,
      "--fixed-strings": null,
      "-G": null,
      "-w": null,
      "--word-regexp": null,
      "-x": null,
      "--line-regexp": null,
      "-o": null,
      "--only-matching": null,
      "-h": null,
      "--no-filename": null,
      "-H": null,
      "--with-filename": null,
      "-s": null,
      "--no-messages": null,
      "-q": null,
      "--quiet": null,
      "-I": null,
      "-a": null,
      "--text": null,
      "-e": "text",
      "--regexp": "text",
      "-f": "path",
      "--file": "path",
      "-m": COUNT,
      "--max-count": COUNT,
      "-A": COUNT,
      "--after-context": COUNT,
      "-B": COUNT,
      "--before-context": COUNT,
      "-C": COUNT,
      "--context": COUNT,
      "--include": "text",
      "--exclude": "text",
      "--exclude-dir": "text",
    },
    operands: "grep",
    doubleDash: true,
  },
  ls: {
    // Not: -L/-H/--dereference* (would follow symlinks out), --hide/-I patterns, --color, --time-style.
    flags: {
      "-l": null,
      "-a": null,
      "--all": null,
      "-A": null,
      "--almost-all": null,
      "-h": null,
      "--human-readable": null,
      "-R": null,
      "--recursive": null,
      "-1": null,
      "-t": null,
      "-S": null,
      "-r": null,
      "--reverse": null,
      "-d": null,
      "--directory": null,
      "-F": null,
      "--classify": null,
      "-i": null,
      "--inode": null,
      "-s": null,
      "--size": null,
      "-n": null,
      "--numeric-uid-gid": null,
      "-p": null,
      "-U": null,
      "-X": null,
      "-v": null,
      "--full-time": null,
    },
    operands: "paths",
    doubleDash: true,
  },
  cat: {
    flags: {
      "-n": null,
      "--number": null,
      "-b": null,
      "--number-nonblank": null,
      "-s": null,
      "--squeeze-blank": null,
      "-E": null,
      "--show-ends": null,
      "-T": null,
      "--show-tabs": null,
      "-A": null,
      "--show-all": null,
      "-v": null,
      "--show-nonprinting": null,
    },
    operands: "paths",
    doubleDash: true,
  },
  head: {
    flags: HEAD_TAIL_FLAGS,
    operands: "paths",
    doubleDash: true,
  },
  tail: {
    // Not: -f/-F/--follow/--pid/--retry/-s (would wait for the timeout).
    flags: HEAD_TAIL_FLAGS,
    operands: "paths",
    doubleDash: true,
  },
  wc: {
    // Not: --files0-from (reads a list of paths that would escape the path check).
    flags: {
      "-l": null,
      "--lines": null,
      "-w": null,
      "--words": null,
      "-c": null,
      "--bytes": null,
      "-m": null,
      "--chars": null,
      "-L": null,
      "--max-line-length": null,
    },
    operands: "paths",
    doubleDash: true,
  },
  df: {
    // No operands: it reports filesystems, not files.
    flags: {
      "-h": null,
      "--human-readable": null,
      "-H": null,
      "--si": null,
      "-k": null,
      "-T": null,
      "--print-type": null,
      "-i": null,
      "--inodes": null,
      "-P": null,
      "--portability": null,
      "-l": null,
      "--local": null,
      "-a": null,
      "--all": null,
      "--total": null,
    },
    operands: "none",
    doubleDash: false,
  },
  uptime: {
    flags: { "-p": null, "--pretty": null, "-s": null, "--since": null },
    operands: "none",
    doubleDash: false,
  },
  date: {
    // Not: -s/--set (sets the clock), -f/--file, -r/--reference; the only operand is +FORMAT (others set the clock).
    flags: {
      "-u": null,
      "--utc": null,
      "--universal": null,
      "-R": null,
      "--rfc-email": null,
      "-I": null,
      "--iso-8601": { attached: /^(date|hours|minutes|seconds|ns)$/ },
      "--rfc-3339": /^(date|seconds|ns)$/,
      "-d": DATE_STRING,
      "--date": DATE_STRING,
    },
    operands: "date",
    doubleDash: false,
  },
};

/** find's options before its starting points: none. -H/-L/-follow would follow symlinks out of the workspace. */
export const FIND_TESTS: Readonly<Record<string, FlagValue>> = {
  "-name": "text",
  "-iname": "text",
  "-path": "text",
  "-ipath": "text",
  "-wholename": "text",
  "-type": /^[fdl](,[fdl])*$/,
  "-maxdepth": /^\d{1,4}$/,
  "-mindepth": /^\d{1,4}$/,
  "-size": /^[+-]?\d{1,12}[bcwkMG]?$/,
  "-mtime": /^[+-]?\d{1,9}$/,
  "-mmin": /^[+-]?\d{1,9}$/,
  "-newer": "path",
  "-empty": null,
  "-prune": null,
  "-print": null,
  "-print0": null,
  "-true": null,
  "-false": null,
};
/** Operators of find's expression. */
export const FIND_OPERATORS: readonly string[] = ["(", ")", "!", "-not", "-a", "-and", "-o", "-or"];

/** find's actions that write, delete or execute; refused (as is anything else not in {@link FIND_TESTS}). */
export const FIND_REFUSED = [
  "-exec",
  "-execdir",
  "-ok",
  "-okdir",
  "-delete",
  "-fprint",
  "-fprint0",
  "-fprintf",
  "-fls",
  "-L",
  "-H",
  "-follow",
] as const;

/** The allow-list in words, for docs and for `GET /v1/agents/ops` readers. */
export function describeAllowList(): Record<AllowedCommand, { flags: string[]; operands: string }> {
  const out = {} as Record<AllowedCommand, { flags: string[]; operands: string }>;
  for (const command of ALLOWED_COMMANDS) {
    if (command === "find") {
      out.find = {
        flags: [...Object.keys(FIND_TESTS), ...FIND_OPERATORS],
        operands: "starting points (paths in the workspace) first, then the expression",
      };
      continue;
    }
    const rule = COMMAND_RULES[command];
    out[command] = {
      flags: Object.entries(rule.flags).map(([flag, value]) =>
        value === null
          ? flag
          : typeof value === "object" && !(value instanceof RegExp)
            ? `${flag}[=VALUE]`
            : `${flag} VALUE`,
      ),
      operands: {
        paths: "paths in the workspace",
        grep: "PATTERN (unless -e/-f), then paths in the workspace",
        date: "+FORMAT only",
        none: "none",
      }[rule.operands],
    };
  }
  return out;
}

const flagRefused = (command: string, flag: string, why = "is not on the allow-list") =>
  new NonRetriableError("flag_not_allowed", `${command}: '${flag}' ${why}`);
const argumentRefused = (command: string, message: string) =>
  new NonRetriableError("argument_not_allowed", `${command}: ${message}`);

function checkValue(
  command: string,
  flag: string,
  kind: Exclude<FlagValue, null>,
  value: string | undefined,
  paths: string[],
) {
  if (value === undefined) throw argumentRefused(command, `'${flag}' needs a value`);
  const pattern = kind instanceof RegExp ? kind : typeof kind === "object" ? kind.attached : undefined;
  if (kind === "path") paths.push(value);
  else if (pattern && !pattern.test(value)) {
    throw argumentRefused(command, `'${value}' is not a valid value for '${flag}'`);
  }
}

/** Checks a GNU-style command line (getopt_long: flags anywhere, `--` ends them); returns the paths to confine. */
function checkGnuArgs(command: Exclude<AllowedCommand, "find">, args: string[]): string[] {
  const rule = COMMAND_RULES[command];
  const paths: string[] = [];
  const operands: string[] = [];
  let patternGiven = false;
  let flagsEnded = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (flagsEnded || !arg.startsWith("-")) {
      operands.push(arg);
      continue;
    }
    if (arg === "--") {
      if (!rule.doubleDash) throw flagRefused(command, arg);
      flagsEnded = true;
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const kind = rule.flags[name];
    if (kind !== undefined) {
      if (kind === null) {
        if (eq !== -1) throw flagRefused(command, arg, "takes no value");
      } else if (typeof kind === "object" && !(kind instanceof RegExp)) {
        if (eq !== -1) checkValue(command, name, kind, arg.slice(eq + 1), paths);
      } else {
        // getopt takes the next argument as the value, whatever it looks like: so do we.
        const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
        checkValue(command, name, kind, value, paths);
      }
      if (name === "-e" || name === "--regexp" || name === "-f" || name === "--file") patternGiven = true;
      continue;
    }
    // A cluster of short switches (-rin): every letter must be an allowed switch that takes no value.
    if (!arg.startsWith("--") && arg.length > 2) {
      for (const letter of arg.slice(1)) {
        if (rule.flags[`-${letter}`] !== null) throw flagRefused(command, arg, `('-${letter}') is not allowed here`);
      }
      continue;
    }
    throw flagRefused(command, arg);
  }
  switch (rule.operands) {
    case "none":
      if (operands.length > 0) throw argumentRefused(command, "takes no operands");
      break;
    case "date":
      for (const operand of operands) {
        if (!operand.startsWith("+"))
          throw argumentRefused(command, `only +FORMAT is allowed ('${operand}' would set the clock)`);
      }
      if (operands.length > 1) throw argumentRefused(command, "takes one +FORMAT at most");
      break;
    case "grep": {
      // With -e/-f anywhere (getopt permutes), every operand is a file; otherwise the first is the pattern.
      if (!patternGiven && operands.shift() === undefined) throw argumentRefused(command, "needs a pattern");
      paths.push(...operands);
      break;
    }
    case "paths":
      paths.push(...operands);
      break;
  }
  return paths;
}

/** Checks find's command line: starting points, then an expression of allowed tests and operators only. */
function checkFindArgs(args: string[]): string[] {
  const paths: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg.startsWith("-") || arg === "(" || arg === "!") break;
    paths.push(arg);
  }
  for (; i < args.length; i++) {
    const arg = args[i] as string;
    if (FIND_OPERATORS.includes(arg)) continue;
    const kind = FIND_TESTS[arg];
    if (kind === undefined) {
      if ((FIND_REFUSED as readonly string[]).includes(arg)) {
        throw flagRefused("find", arg, "writes, deletes, executes or follows symlinks");
      }
      if (arg.startsWith("-")) throw flagRefused("find", arg);
      throw argumentRefused("find", `'${arg}' is not a test or an operator (starting points come first)`);
    }
    if (kind !== null) checkValue("find", arg, kind, args[++i], paths);
  }
  return paths;
}

/**
 * Checks a run_command request against the allow-list: the command, its flags and values, and which arguments
 * are paths. Throws a NonRetriableError (`command_not_allowed`, `flag_not_allowed`, `argument_not_allowed`);
 * returns the path arguments, still to be confined to the workspace.
 */
export function checkCommandLine(command: string, args: string[]): string[] {
  if (!(ALLOWED_COMMANDS as readonly string[]).includes(command)) {
    throw new NonRetriableError("command_not_allowed", `'${command}' is not an allowed command`);
  }
  if (args.length > MAX_ARGS) throw argumentRefused(command, `at most ${MAX_ARGS} arguments`);
  for (const arg of args) {
    if (arg.includes("\0")) throw argumentRefused(command, "arguments must not contain NUL bytes");
    if (arg.length > MAX_ARG_LENGTH)
      throw argumentRefused(command, `arguments are at most ${MAX_ARG_LENGTH} characters`);
  }
  const allowed = command as AllowedCommand;
  return allowed === "find" ? checkFindArgs(args) : checkGnuArgs(allowed, args);
}

/** Confines a path argument: relative, no `..`, `~` or NUL, and resolving (symlinks followed) inside the workspace. */
export async function confinePath(root: string, cwd: string, path: string): Promise<void> {
  if (path === "") throw new NonRetriableError("argument_not_allowed", "an empty path is not allowed");
  await resolveInside(root, cwd, splitRelative(path, "path argument"), path);
}

const binaries = new Map<string, Promise<string | undefined>>();

async function findBinary(command: string): Promise<string | undefined> {
  for (const dir of SYSTEM_BIN_DIRS) {
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      const real = await realpath(candidate);
      if ((await stat(real)).isFile()) return real;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The absolute path of an allowed command's binary, from {@link SYSTEM_BIN_DIRS} only (looked up once). */
export async function resolveBinary(command: AllowedCommand): Promise<string> {
  let found = binaries.get(command);
  if (!found) {
    found = findBinary(command);
    binaries.set(command, found);
  }
  const binary = await found;
  if (!binary) {
    throw new NonRetriableError(
      "command_unavailable",
      `'${command}' is allowed but not installed here (looked in ${SYSTEM_BIN_DIRS.join(", ")})`,
    );
  }
  return binary;
}

export interface CommandResult {
  command: AllowedCommand;
  args: string[];
  cwd: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Whether stdout or stderr was cut at the output cap. */
  truncated: boolean;
  stdoutBytes: number;
  stderrBytes: number;
  durationMs: number;
}

export interface RunOptions {
  root: string;
  defaultTimeoutMs: number;
  outputBytes: number;
  signal?: AbortSignal;
}

/** What stdout and stderr may take in a task result once JSON-encoded (the result's cap is 256 KB). */
const MAX_OUTPUT_JSON_BYTES = 220_000;

/** Cuts the longer of stdout/stderr until both fit a task result (control bytes take 6 bytes each in JSON). */
function fitOutput(result: CommandResult): CommandResult {
  const size = () => Buffer.byteLength(JSON.stringify([result.stdout, result.stderr]));
  while (size() > MAX_OUTPUT_JSON_BYTES) {
    const key = result.stdout.length >= result.stderr.length ? "stdout" : "stderr";
    result[key] = result[key].slice(0, Math.floor(result[key].length / 2));
    result.truncated = true;
  }
  return result;
}

/** Collects a stream up to `cap` bytes; the rest is counted and dropped. */
function capture(stream: NodeJS.ReadableStream, cap: number) {
  const chunks: Buffer[] = [];
  const state = { kept: 0, total: 0 };
  stream.on("data", (chunk: Buffer) => {
    state.total += chunk.length;
    const room = cap - state.kept;
    if (room <= 0) return;
    const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
    chunks.push(piece);
    state.kept += piece.length;
  });
  return { text: () => Buffer.concat(chunks).toString("utf8"), state };
}

/**
 * Runs an allowed command: checked against the allow-list, path arguments and cwd confined to the workspace,
 * the binary from the system directories, no shell, a minimal environment, stdin empty, its own process group
 * (killed whole at the timeout or when the task is aborted), and stdout/stderr capped.
 */
export async function runCommand(params: RunCommandParams, options: RunOptions): Promise<CommandResult> {
  const { command, args } = params;
  const paths = checkCommandLine(command, args);
  const { root } = options;
  const cwd = params.cwd === undefined ? root : await resolveDirectory(root, params.cwd, "cwd");
  for (const path of paths) await confinePath(root, cwd, path);
  const binary = await resolveBinary(command);
  const timeoutMs = params.timeoutMs ?? options.defaultTimeoutMs;

  const started = performance.now();
  const child = spawn(binary, args, {
    cwd,
    env: COMMAND_ENV,
    shell: false,
    detached: true, // its own process group, so the timeout kills whatever it started
    stdio: ["ignore", "pipe", "pipe"],
    windowsHide: true,
  });
  const stdout = capture(child.stdout, options.outputBytes);
  const stderr = capture(child.stderr, options.outputBytes);
  let timedOut = false;
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  options.signal?.addEventListener("abort", killGroup, { once: true });
  try {
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.once("error", reject);
        child.once("close", (code, signal) => resolve({ code, signal }));
      },
    );
    return fitOutput({
      command,
      args,
      cwd: relative(root, cwd) || ".",
      exitCode: code,
      signal,
      timedOut,
      stdout: stdout.text(),
      stderr: stderr.text(),
      truncated: stdout.state.total > stdout.state.kept || stderr.state.total > stderr.state.kept,
      stdoutBytes: stdout.state.total,
      stderrBytes: stderr.state.total,
      durationMs: Math.round(performance.now() - started),
    });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", killGroup);
  }
}
