import { constants } from "node:fs";
import { mkdir, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { NonRetriableError } from "@nexus/core";

/** Longest path (in characters) a task may name. */
export const MAX_PATH_LENGTH = 1024;

/** Open flags for the file actions: never follow a symlink in the last component, never block on a FIFO. */
export const NO_FOLLOW = constants.O_NOFOLLOW | constants.O_NONBLOCK;

export const errorCode = (error: unknown): string | undefined =>
  error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;

export const outside = (path: string, why: string) =>
  new NonRetriableError("path_outside_workspace", `'${path}' is refused: ${why}`);

/**
 * Splits a workspace-relative path into its components. Refused: empty or over-long paths, NUL bytes,
 * absolute paths, `~` (there is no shell to expand it, and it never means the workspace) and any `..`
 * component. `..` is refused even when it would stay inside: the kernel resolves it after following the
 * symlink before it, so a lexical check cannot vouch for it.
 */
export function splitRelative(path: string, field = "path"): string[] {
  if (path.length === 0) throw new NonRetriableError("path_invalid", `${field} is empty`);
  if (path.length > MAX_PATH_LENGTH) {
    throw new NonRetriableError("path_invalid", `${field} is longer than ${MAX_PATH_LENGTH} characters`);
  }
  if (path.includes("\0")) throw new NonRetriableError("path_invalid", `${field} contains a NUL byte`);
  if (path.startsWith("~")) throw outside(path, "'~' is not expanded; paths are relative to the workspace");
  if (isAbsolute(path)) throw outside(path, "absolute paths are not allowed; paths are relative to the workspace");
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw outside(path, "'..' is not allowed");
  return parts;
}

/** Whether `real` (a resolved path) is `root` or below it. */
export function isInside(root: string, real: string): boolean {
  if (real === root) return true;
  const rel = relative(root, real);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** The workspace directory: created when missing, then resolved (it may itself sit behind a symlink, e.g. /tmp). */
export async function workspaceRoot(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const root = await realpath(dir);
  if (root === "/" || root === "") throw new Error("the workspace directory must not be the filesystem root");
  return root;
}

/**
 * Resolves `parts` below `base` (a real path inside `root`), following symlinks like the kernel would, and
 * checks that the result stays inside `root`. When the path does not exist, its longest existing prefix is
 * checked instead (what follows it cannot be a symlink yet); `exists` tells which case it was.
 */
export async function resolveInside(
  root: string,
  base: string,
  parts: string[],
  shown: string,
): Promise<{ real: string; exists: boolean; missing: string[] }> {
  for (let i = parts.length; i >= 0; i--) {
    let real: string;
    try {
      real = await realpath(join(base, ...parts.slice(0, i)));
    } catch (error) {
      const code = errorCode(error);
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      if (code === "ELOOP") throw outside(shown, "it runs through a symlink loop");
      throw error;
    }
    if (!isInside(root, real)) throw outside(shown, "it resolves outside the workspace (through a symlink)");
    return { real, exists: i === parts.length, missing: parts.slice(i) };
  }
  // base itself is gone: the workspace was removed under us.
  throw new NonRetriableError("not_found", `'${shown}' does not exist`);
}

/** Resolves an existing directory inside the workspace (a command's cwd). */
export async function resolveDirectory(root: string, path: string, field: string): Promise<string> {
  const parts = splitRelative(path, field);
  const { real, exists } = await resolveInside(root, root, parts, path);
  if (!exists) throw new NonRetriableError("not_found", `${field} '${path}' does not exist`);
  if (!(await stat(real)).isDirectory()) throw new NonRetriableError("not_a_directory", `'${path}' is not a directory`);
  return real;
}
