import type { AgentSpec } from "@nexus/core";
import * as Health from "@nexus/core/health";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { builtinSpec, paramsSchemaOf } from "../schema.js";
import { MAX_COMMAND_TIMEOUT_MS } from "./config.js";

/** The commands run_command knows; each one's flags are in {@link COMMAND_RULES} (commands.ts). */
export const ALLOWED_COMMANDS = ["grep", "find", "ls", "cat", "head", "tail", "wc", "df", "uptime", "date"] as const;
export type AllowedCommand = (typeof ALLOWED_COMMANDS)[number];

export const MAX_ARGS = 50;
export const MAX_ARG_LENGTH = 1024;
export const MAX_READ_BYTES = 128 * 1024;
export const DEFAULT_READ_BYTES = 64 * 1024;
/** Characters; the byte cap (NEXUS_MAX_WRITE_BYTES, 1,000,000 by default) is checked after decoding. */
export const MAX_CONTENT_LENGTH = 1_000_000;
export const MAX_LIST_ENTRIES = 1000;
export const MAX_URL_LENGTH = 2048;

const noNul = /^[^\0]*$/;
const relativePath = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(1)
    .max(1024)
    .regex(noNul, "must not contain NUL bytes")
    .describe("Relative to the workspace directory; no absolute paths, '~' or '..'"),
);

/** A command's or a check's time limit, in ms (each says what it covers and its default). */
const timeLimit = /* @__PURE__ */ pure(() => z.number().int().min(100).max(MAX_COMMAND_TIMEOUT_MS).optional());

export const RunCommandParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    command: z.enum(ALLOWED_COMMANDS).describe("One of the allow-listed commands (run without a shell)"),
    args: z
      .array(z.string().max(MAX_ARG_LENGTH).regex(noNul, "must not contain NUL bytes"))
      .max(MAX_ARGS)
      .default([])
      .describe("Arguments, passed as they are (no shell: no globbing, pipes or expansion); checked per command"),
    cwd: relativePath.optional().describe("Working directory, relative to the workspace (default: the workspace)"),
    timeoutMs: timeLimit.describe("Kill the command after this long (default NEXUS_COMMAND_TIMEOUT_MS)"),
  }),
);
export type RunCommandParams = z.output<typeof RunCommandParams>;

export const ReadFileParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    path: relativePath,
    maxBytes: z
      .number()
      .int()
      .min(1)
      .max(MAX_READ_BYTES)
      .default(DEFAULT_READ_BYTES)
      .describe("Read at most this much"),
  }),
);
export type ReadFileParams = z.output<typeof ReadFileParams>;

export const WriteFileParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    path: relativePath,
    content: z.string().max(MAX_CONTENT_LENGTH),
    encoding: z.enum(["utf8", "base64"]).default("utf8"),
    mode: z
      .enum(["overwrite", "append", "create"])
      .default("overwrite")
      .describe("overwrite replaces, append adds to the end, create fails when the file exists"),
  }),
);
export type WriteFileParams = z.output<typeof WriteFileParams>;

export const ListFilesParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    path: relativePath.optional().describe("Directory to list, relative to the workspace (default: the workspace)"),
    recursive: z.boolean().default(false).describe("Descend into subdirectories (never through symlinks)"),
    maxEntries: z.number().int().min(1).max(MAX_LIST_ENTRIES).default(MAX_LIST_ENTRIES),
  }),
);
export type ListFilesParams = z.output<typeof ListFilesParams>;

export const DeleteFileParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    path: relativePath.describe("A file or an empty directory, relative to the workspace"),
  }),
);
export type DeleteFileParams = z.output<typeof DeleteFileParams>;

export const HttpCheckParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    url: z
      .string()
      .max(MAX_URL_LENGTH)
      .regex(/^[Hh][Tt][Tt][Pp][Ss]?:\/\//, "must be an http:// or https:// URL")
      .describe("Its host (host:port) must be on NEXUS_HTTP_ALLOW"),
    method: z.enum(["GET", "HEAD"]).default("GET"),
    expectStatus: z
      .number()
      .int()
      .min(100)
      .max(599)
      .optional()
      .describe("ok is status === expectStatus; without it, ok is a 2xx status"),
    followRedirects: z.boolean().default(true).describe("Follow up to 5 redirects, each within the allow-list"),
    timeoutMs: timeLimit.describe("Whole check, redirects included (default NEXUS_HTTP_TIMEOUT_MS)"),
  }),
);
export type HttpCheckParams = z.output<typeof HttpCheckParams>;

const readRetry = { maxAttempts: 3, backoffSeconds: 1, maxBackoffSeconds: 30 };
/** A write or a delete is retried once at most: the usual failures (refusals) are not retriable anyway. */
const writeRetry = { maxAttempts: 2, backoffSeconds: 1, maxBackoffSeconds: 30 };

/** `ops`: allow-listed read-only commands, file actions in one workspace directory, HTTP checks of allow-listed hosts. */
export const opsSpec: AgentSpec = builtinSpec(
  {
    id: "ops",
    kind: "ops",
    description:
      "Runs allow-listed read-only commands, manages files in its workspace, checks allow-listed HTTP endpoints",
  },
  () => [
    {
      name: "run_command",
      description: `Runs one of ${ALLOWED_COMMANDS.join(", ")} without a shell, in the workspace; returns exit code, stdout, stderr`,
      params: paramsSchemaOf(RunCommandParams),
      retry: { maxAttempts: 2, backoffSeconds: 1, maxBackoffSeconds: 30 },
      timeoutSeconds: 45,
    },
    {
      name: "read_file",
      description: "Reads a file of the workspace (UTF-8 text, or base64 when it is not text)",
      params: paramsSchemaOf(ReadFileParams),
      retry: readRetry,
      timeoutSeconds: 30,
    },
    {
      name: "write_file",
      description: "Writes a file of the workspace (overwrite, append or create), making missing directories",
      params: paramsSchemaOf(WriteFileParams),
      retry: writeRetry,
      timeoutSeconds: 30,
    },
    {
      name: "list_files",
      description: "Lists a directory of the workspace (optionally recursive) with types, sizes and mtimes",
      params: paramsSchemaOf(ListFilesParams),
      retry: readRetry,
      timeoutSeconds: 30,
    },
    {
      name: "delete_file",
      description: "Deletes a file or an empty directory of the workspace (never a symlink or a non-empty directory)",
      params: paramsSchemaOf(DeleteFileParams),
      retry: writeRetry,
      timeoutSeconds: 30,
    },
    {
      name: "http_check",
      description:
        "GET/HEAD of a URL on an allow-listed host, redirects followed within the allow-list; status and timing",
      params: paramsSchemaOf(HttpCheckParams),
      retry: readRetry,
      timeoutSeconds: 45,
    },
    Health.actionSpec(
      20,
      "Checks that the workspace exists and is writable and the allow-listed commands are installed",
    ),
  ],
);
