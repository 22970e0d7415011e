import type { Stats } from "node:fs";
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readdir, realpath, rmdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ActionError, NonRetriableError } from "@nexus/core";
import { errorCode, isInside, NO_FOLLOW, outside, resolveInside, splitRelative, workspaceRoot } from "./paths.js";
import type { DeleteFileParams, ListFilesParams, ReadFileParams, WriteFileParams } from "./spec.js";

/** Encoded content a read may return, so the task result stays well under its 256 KB cap. */
const MAX_CONTENT_JSON_BYTES = 200_000;

export interface FileLimits {
  /** Largest content one write_file may carry (bytes, after decoding). */
  maxWriteBytes: number;
  /** Largest a file may grow to through appends. */
  maxFileBytes: number;
}

export type EntryType = "file" | "directory" | "symlink" | "other";

export interface Entry {
  path: string;
  type: EntryType;
  size: number;
  mtime: string;
}

const typeOf = (s: Stats): EntryType =>
  s.isSymbolicLink() ? "symlink" : s.isDirectory() ? "directory" : s.isFile() ? "file" : "other";

const shownPath = (parts: string[]) => (parts.length === 0 ? "." : parts.join("/"));

/** Filesystem errors a task cannot fix by retrying, as clear codes; anything else stays retriable. */
function fsError(error: unknown, path: string): Error {
  switch (errorCode(error)) {
    case "ENOENT":
      return new NonRetriableError("not_found", `'${path}' does not exist`);
    case "ELOOP":
      return new NonRetriableError("symlink_not_allowed", `'${path}' is a symlink; the file actions do not follow it`);
    case "EEXIST":
      return new NonRetriableError("file_exists", `'${path}' exists (mode 'create' never replaces a file)`);
    case "EISDIR":
      return new NonRetriableError("not_a_file", `'${path}' is a directory`);
    case "ENOTDIR":
      return new NonRetriableError("not_a_directory", `a parent of '${path}' is not a directory`);
    case "ENXIO":
      return new NonRetriableError("not_a_file", `'${path}' is not a regular file`);
    case "ENOTEMPTY":
      return new NonRetriableError("directory_not_empty", `'${path}' is a directory that is not empty`);
    case "EACCES":
    case "EPERM":
      return new NonRetriableError("permission_denied", `'${path}' is not accessible to the agent`);
    case "ENOSPC":
    case "EDQUOT":
      return new NonRetriableError("no_space", "the workspace's filesystem is full");
    case "ENAMETOOLONG":
      return new NonRetriableError("path_invalid", `'${path}' is too long for the filesystem`);
    default:
      return error instanceof Error ? error : new ActionError("fs_error", String(error));
  }
}

async function withFsErrors<T>(path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ActionError) throw error;
    throw fsError(error, path);
  }
}

/**
 * The parent directory of a path to create or remove, resolved and checked to be inside the workspace.
 * With `create`, missing directories are made one at a time, none of them through a symlink.
 */
async function resolveParent(root: string, parts: string[], shown: string, create: boolean) {
  const name = parts.at(-1);
  if (name === undefined) throw new NonRetriableError("path_not_allowed", "the workspace root itself is refused");
  const { real, missing } = await resolveInside(root, root, parts.slice(0, -1), shown);
  let parent = real;
  if (missing.length > 0) {
    if (!create) return undefined;
    for (const part of missing) {
      const next = join(parent, part);
      try {
        await mkdir(next, { mode: 0o755 });
      } catch (error) {
        if (errorCode(error) !== "EEXIST") throw error;
        const existing = await lstat(next);
        if (existing.isSymbolicLink()) throw outside(shown, "a parent directory is a symlink");
        if (!existing.isDirectory()) throw new NonRetriableError("not_a_directory", `a parent of '${shown}' is a file`);
      }
      parent = next;
    }
    // Resolve again: what was made must still be where it was made.
    parent = await realpath(parent);
    if (!isInside(root, parent)) throw outside(shown, "it resolves outside the workspace");
  }
  return { parent, name, target: join(parent, name) };
}

async function statOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

/** UTF-8 text when the bytes are UTF-8 (a character cut at the end by maxBytes is dropped), else base64. */
function encodeContent(bytes: Buffer, truncated: boolean): { encoding: "utf8" | "base64"; content: string } {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (let cut = 0; cut <= (truncated ? 3 : 0) && cut <= bytes.length; cut++) {
    try {
      const content = decoder.decode(bytes.subarray(0, bytes.length - cut));
      if (Buffer.byteLength(JSON.stringify(content)) <= MAX_CONTENT_JSON_BYTES) return { encoding: "utf8", content };
      break; // text full of escapes: base64 is smaller
    } catch {
      // not UTF-8 (yet): try one byte shorter, then base64
    }
  }
  return { encoding: "base64", content: bytes.toString("base64") };
}

async function readAll(handle: FileHandle, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let offset = 0;
  while (offset < length) {
    const { bytesRead } = await handle.read(buffer, offset, length - offset, offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return buffer.subarray(0, offset);
}

/**
 * The file actions, confined to one workspace directory. Paths are relative to it; absolute paths, `~`, `..`
 * and anything that resolves outside it (through a symlink anywhere on the way) are refused. Reads and listings
 * follow symlinks that stay inside; writes and deletes never act on a symlink.
 */
export class Workspace {
  constructor(
    readonly dir: string,
    readonly limits: FileLimits,
  ) {}

  /** The workspace's real path (created when missing). */
  root(): Promise<string> {
    return workspaceRoot(this.dir);
  }

  async read(params: ReadFileParams) {
    const root = await this.root();
    const parts = splitRelative(params.path);
    const shown = shownPath(parts);
    return withFsErrors(shown, async () => {
      const { real, exists } = await resolveInside(root, root, parts, shown);
      if (!exists) throw new NonRetriableError("not_found", `'${shown}' does not exist`);
      const handle = await open(real, constants.O_RDONLY | NO_FOLLOW);
      try {
        const stats = await handle.stat();
        if (!stats.isFile()) throw new NonRetriableError("not_a_file", `'${shown}' is not a regular file`);
        const bytes = await readAll(handle, Math.min(params.maxBytes, stats.size));
        const truncated = stats.size > bytes.length;
        return {
          path: shown,
          size: stats.size,
          mtime: stats.mtime.toISOString(),
          bytesRead: bytes.length,
          truncated,
          ...encodeContent(bytes, truncated),
        };
      } finally {
        await handle.close();
      }
    });
  }

  async write(params: WriteFileParams) {
    const data =
      params.encoding === "base64" ? decodeBase64(params.content) : Buffer.from(params.content, params.encoding);
    const { maxWriteBytes, maxFileBytes } = this.limits;
    if (data.length > maxWriteBytes) {
      throw new NonRetriableError("content_too_large", `content is ${data.length} bytes; at most ${maxWriteBytes}`);
    }
    const root = await this.root();
    const parts = splitRelative(params.path);
    const shown = shownPath(parts);
    return withFsErrors(shown, async () => {
      const resolved = await resolveParent(root, parts, shown, true);
      if (!resolved) throw new NonRetriableError("not_found", `the directory of '${shown}' does not exist`);
      const before = await statOrUndefined(resolved.target);
      if (before?.isSymbolicLink()) {
        throw new NonRetriableError("symlink_not_allowed", `'${shown}' is a symlink; writing through it is refused`);
      }
      if (before && !before.isFile()) throw new NonRetriableError("not_a_file", `'${shown}' is not a regular file`);
      if (before && params.mode === "create") {
        throw new NonRetriableError("file_exists", `'${shown}' exists (mode 'create' never replaces a file)`);
      }
      const finalSize = (params.mode === "append" ? (before?.size ?? 0) : 0) + data.length;
      if (finalSize > maxFileBytes) {
        throw new NonRetriableError(
          "file_too_large",
          `'${shown}' would grow to ${finalSize} bytes; at most ${maxFileBytes}`,
        );
      }
      const how =
        params.mode === "create" ? constants.O_EXCL : params.mode === "append" ? constants.O_APPEND : constants.O_TRUNC;
      const handle = await open(resolved.target, constants.O_WRONLY | constants.O_CREAT | NO_FOLLOW | how, 0o644);
      try {
        const opened = await handle.stat();
        if (!opened.isFile()) throw new NonRetriableError("not_a_file", `'${shown}' is not a regular file`);
        await handle.writeFile(data);
        const after = await handle.stat();
        return {
          path: shown,
          mode: params.mode,
          created: before === undefined,
          bytesWritten: data.length,
          size: after.size,
          mtime: after.mtime.toISOString(),
        };
      } finally {
        await handle.close();
      }
    });
  }

  async list(params: ListFilesParams) {
    const root = await this.root();
    const parts = params.path === undefined ? [] : splitRelative(params.path);
    const shown = shownPath(parts);
    return withFsErrors(shown, async () => {
      const { real, exists } = await resolveInside(root, root, parts, shown);
      if (!exists) throw new NonRetriableError("not_found", `'${shown}' does not exist`);
      if (!(await lstat(real)).isDirectory()) {
        throw new NonRetriableError("not_a_directory", `'${shown}' is not a directory`);
      }
      const entries: Entry[] = [];
      const pending = [{ dir: real, prefix: parts.join("/") }];
      let truncated = false;
      for (let next = pending.shift(); next; next = pending.shift()) {
        const names = (await readdir(next.dir)).sort();
        for (const name of names) {
          if (entries.length >= params.maxEntries) {
            truncated = true;
            break;
          }
          const stats = await statOrUndefined(join(next.dir, name));
          if (!stats) continue; // removed while listing
          const path = next.prefix ? `${next.prefix}/${name}` : name;
          const type = typeOf(stats);
          entries.push({ path, type, size: stats.size, mtime: stats.mtime.toISOString() });
          // Recursion never follows a symlink: only real directories are entered.
          if (params.recursive && type === "directory") pending.push({ dir: join(next.dir, name), prefix: path });
        }
        if (truncated) break;
      }
      return { path: shown, recursive: params.recursive, entries, truncated };
    });
  }

  async delete(params: DeleteFileParams) {
    const root = await this.root();
    const parts = splitRelative(params.path);
    const shown = shownPath(parts);
    return withFsErrors(shown, async () => {
      const resolved = await resolveParent(root, parts, shown, false);
      const before = resolved && (await statOrUndefined(resolved.target));
      if (!resolved || !before) return { path: shown, deleted: false };
      if (before.isSymbolicLink()) {
        throw new NonRetriableError(
          "symlink_not_allowed",
          `'${shown}' is a symlink; the file actions do not touch them`,
        );
      }
      if (before.isDirectory()) await rmdir(resolved.target);
      else await unlink(resolved.target);
      return { path: shown, deleted: true, type: typeOf(before), size: before.size };
    });
  }
}

function decodeBase64(content: string): Buffer {
  const compact = content.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new NonRetriableError("content_invalid", "content is not valid base64");
  }
  return Buffer.from(compact, "base64");
}
