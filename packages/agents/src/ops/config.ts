/** Where the file actions and commands work when `NEXUS_WORKSPACE_DIR` is not set (Lambda's writable /tmp). */
export const DEFAULT_WORKSPACE_DIR = "/tmp/nexus-workspace";
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
export const MAX_COMMAND_TIMEOUT_MS = 30_000;
export const DEFAULT_OUTPUT_BYTES = 64 * 1024;
/** Each of stdout and stderr; two of them must fit a task result (256 KB). */
export const MAX_OUTPUT_BYTES = 96 * 1024;
export const DEFAULT_MAX_WRITE_BYTES = 1_000_000;
export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;

/** The ops agent's settings, read from `NEXUS_*` names. */
export interface OpsConfig {
  /** `NEXUS_WORKSPACE_DIR`: the one directory the file actions and commands may touch (created if missing). */
  workspaceDir: string;
  /** `NEXUS_HTTP_ALLOW`: comma-separated `host[:port]` entries http_check may reach; empty allows nothing. */
  httpAllow: string;
  /** `NEXUS_COMMAND_TIMEOUT_MS`: a command's timeout when the task names none (at most 30 s). */
  commandTimeoutMs: number;
  /** `NEXUS_COMMAND_OUTPUT_BYTES`: cap on each of stdout and stderr; more is cut and flagged `truncated`. */
  outputBytes: number;
  /** `NEXUS_MAX_WRITE_BYTES`: cap on one write_file's content (bytes, after decoding). */
  maxWriteBytes: number;
  /** `NEXUS_MAX_FILE_BYTES`: cap on a file's size after an append. */
  maxFileBytes: number;
  /** `NEXUS_HTTP_TIMEOUT_MS`: an http_check's timeout when the task names none (at most 30 s). */
  httpTimeoutMs: number;
}

function integer(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  const text = value?.trim();
  if (!text) return fallback;
  if (!/^\d+$/.test(text)) throw new Error(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  const n = Number(text);
  if (n < min || n > max) throw new Error(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Reads the settings; a malformed number is a deployment mistake and fails the cold start. */
export function readOpsConfig(config: Readonly<Record<string, string | undefined>>): OpsConfig {
  return {
    workspaceDir: config.NEXUS_WORKSPACE_DIR?.trim() || DEFAULT_WORKSPACE_DIR,
    httpAllow: config.NEXUS_HTTP_ALLOW ?? "",
    commandTimeoutMs: integer(
      config.NEXUS_COMMAND_TIMEOUT_MS,
      "NEXUS_COMMAND_TIMEOUT_MS",
      DEFAULT_COMMAND_TIMEOUT_MS,
      100,
      MAX_COMMAND_TIMEOUT_MS,
    ),
    outputBytes: integer(
      config.NEXUS_COMMAND_OUTPUT_BYTES,
      "NEXUS_COMMAND_OUTPUT_BYTES",
      DEFAULT_OUTPUT_BYTES,
      1,
      MAX_OUTPUT_BYTES,
    ),
    maxWriteBytes: integer(
      config.NEXUS_MAX_WRITE_BYTES,
      "NEXUS_MAX_WRITE_BYTES",
      DEFAULT_MAX_WRITE_BYTES,
      1,
      DEFAULT_MAX_WRITE_BYTES,
    ),
    maxFileBytes: integer(config.NEXUS_MAX_FILE_BYTES, "NEXUS_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES, 1, 2 ** 40),
    httpTimeoutMs: integer(
      config.NEXUS_HTTP_TIMEOUT_MS,
      "NEXUS_HTTP_TIMEOUT_MS",
      DEFAULT_HTTP_TIMEOUT_MS,
      100,
      MAX_COMMAND_TIMEOUT_MS,
    ),
  };
}
