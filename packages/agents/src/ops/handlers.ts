import { randomUUID } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type AgentImplementation, parseParams } from "@nexus/core";
import * as Health from "@nexus/core/health";
import { resolveBinary, runCommand } from "./commands.js";
import { readOpsConfig } from "./config.js";
import { Workspace } from "./files.js";
import { httpCheck, parseAllowList } from "./http-check.js";
import {
  ALLOWED_COMMANDS,
  DeleteFileParams,
  HttpCheckParams,
  ListFilesParams,
  opsSpec,
  ReadFileParams,
  RunCommandParams,
  WriteFileParams,
} from "./spec.js";

/**
 * `ops`: allow-listed read-only commands and file actions confined to one workspace directory
 * (NEXUS_WORKSPACE_DIR), and HTTP checks of allow-listed hosts (NEXUS_HTTP_ALLOW).
 */
export const ops: AgentImplementation = {
  spec: opsSpec,
  handlers: (env) => {
    const { config, logger } = env;
    const settings = readOpsConfig(config);
    const allow = parseAllowList(settings.httpAllow);
    if (allow.invalid.length > 0) {
      logger.warn("NEXUS_HTTP_ALLOW entries ignored: not host[:port] in canonical form", { invalid: allow.invalid });
    }
    const workspace = new Workspace(settings.workspaceDir, {
      maxWriteBytes: settings.maxWriteBytes,
      maxFileBytes: settings.maxFileBytes,
    });
    return {
      run_command: async (params, { signal }) =>
        runCommand(parseParams(RunCommandParams, params), {
          root: await workspace.root(),
          defaultTimeoutMs: settings.commandTimeoutMs,
          outputBytes: settings.outputBytes,
          signal,
        }),
      read_file: async (params) => workspace.read(parseParams(ReadFileParams, params)),
      write_file: async (params) => workspace.write(parseParams(WriteFileParams, params)),
      list_files: async (params) => workspace.list(parseParams(ListFilesParams, params)),
      delete_file: async (params) => workspace.delete(parseParams(DeleteFileParams, params)),
      http_check: async (params, { signal }) =>
        httpCheck(parseParams(HttpCheckParams, params), {
          allow: allow.entries,
          defaultTimeoutMs: settings.httpTimeoutMs,
          signal,
        }),
      health: Health.healthAction(env, opsSpec.id, async () => [
        await Health.check("workspace", async () => {
          const root = await workspace.root();
          // A file of its own, written and removed at once: proves the directory takes writes.
          const probe = join(root, `.nexus-health-${randomUUID()}`);
          await writeFile(probe, "ok", { flag: "wx", mode: 0o600 });
          await rm(probe, { force: true });
          return `${root} exists and is writable`;
        }),
        await Health.check("commands", async () => {
          const found = await Promise.all(ALLOWED_COMMANDS.map((c) => resolveBinary(c).catch(() => undefined)));
          const missing = ALLOWED_COMMANDS.filter((_, i) => found[i] === undefined);
          if (missing.length > 0) throw new Error(`allow-listed but not installed: ${missing.join(", ")}`);
          return `all ${ALLOWED_COMMANDS.length} allow-listed commands are installed`;
        }),
      ]),
    };
  },
};
