import { type AgentImplementation, NonRetriableError } from "@nexus/core";
import type { z } from "zod";
import { runCommand } from "./commands.js";
import { readOpsConfig } from "./config.js";
import { Workspace } from "./files.js";
import { httpCheck, parseAllowList } from "./http-check.js";
import {
  DeleteFileParams,
  HttpCheckParams,
  ListFilesParams,
  opsSpec,
  ReadFileParams,
  RunCommandParams,
  WriteFileParams,
} from "./spec.js";

/** Params the API let through are valid; anything else (a message written by hand) fails for good. */
function parse<T extends z.ZodType>(schema: T, params: unknown): z.output<T> {
  const result = schema.safeParse(params);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `params.${issue.path.join(".")}: ` : "";
    throw new NonRetriableError("params_invalid", `${where}${issue?.message ?? "params are not valid"}`);
  }
  return result.data;
}

/**
 * `ops`: allow-listed read-only commands and file actions confined to one workspace directory
 * (NEXUS_WORKSPACE_DIR), and HTTP checks of allow-listed hosts (NEXUS_HTTP_ALLOW).
 */
export const ops: AgentImplementation = {
  spec: opsSpec,
  handlers: ({ config, logger }) => {
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
        runCommand(parse(RunCommandParams, params), {
          root: await workspace.root(),
          defaultTimeoutMs: settings.commandTimeoutMs,
          outputBytes: settings.outputBytes,
          signal,
        }),
      read_file: async (params) => workspace.read(parse(ReadFileParams, params)),
      write_file: async (params) => workspace.write(parse(WriteFileParams, params)),
      list_files: async (params) => workspace.list(parse(ListFilesParams, params)),
      delete_file: async (params) => workspace.delete(parse(DeleteFileParams, params)),
      http_check: async (params, { signal }) =>
        httpCheck(parse(HttpCheckParams, params), {
          allow: allow.entries,
          defaultTimeoutMs: settings.httpTimeoutMs,
          signal,
        }),
    };
  },
};
