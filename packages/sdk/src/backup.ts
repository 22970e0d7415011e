import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createInterface } from "node:readline";
import type { NexusClient } from "./client.js";
import type { ImportLinesResult } from "./types.js";

/**
 * Backups to and from a file of JSON Lines, resumable both ways. An export appends page after page and, after each,
 * writes `<file>.cursor` (the next page's cursor and the file's length then): an interrupted export run again cuts
 * the file back to that length (a page half written is dropped) and goes on from that page, so the file is always
 * valid JSON Lines up to its last complete page. An import sends the lines in batches and records the next line to
 * send in `<file>.import`; run again, it goes on from there (the API writes nothing twice either way).
 */

export interface Progress {
  pages: number;
  lines: number;
  bytes: number;
  done: boolean;
}

interface ExportState {
  backupId: string;
  cursor: string;
  bytes: number;
  lines: number;
  pages: number;
}

/** Writes `state` next to the file atomically (a temporary file renamed over it). */
function saveState(path: string, state: object) {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state)}\n`);
  renameSync(temporary, path);
}

function readState<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

export class BackupFileError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "BackupFileError";
    this.code = code;
  }
}

const countLines = (text: string) => text.split("\n").length - 1;

/** Exports the deployment into `file`, going on from `<file>.cursor` when an earlier export was interrupted. */
export async function exportToFile(
  client: NexusClient,
  file: string,
  options: { onProgress?: (progress: Progress & { backupId: string; resumed: boolean }) => void } = {},
): Promise<{ backupId: string; lines: number; bytes: number; pages: number; resumed: boolean }> {
  const statePath = `${file}.cursor`;
  const saved = readState<ExportState>(statePath);
  if (!saved && existsSync(file) && statSync(file).size > 0) {
    throw new BackupFileError("file_exists", `${file} exists (and no export of it is unfinished): choose another file`);
  }
  const fd = openSync(file, saved ? "r+" : "w");
  try {
    // What was written after the last recorded page (a page the interruption cut short) goes.
    if (saved) ftruncateSync(fd, saved.bytes);
    let state: ExportState = saved ?? { backupId: "", cursor: "", bytes: 0, lines: 0, pages: 0 };
    const resumed = saved !== undefined;
    for (;;) {
      const page = await client.backup.exportPage(state.cursor || undefined);
      const body = Buffer.from(page.text, "utf8");
      writeSync(fd, body, 0, body.byteLength, state.bytes);
      fsyncSync(fd);
      state = {
        backupId: state.backupId || page.backupId,
        cursor: page.nextCursor ?? "",
        bytes: state.bytes + body.byteLength,
        lines: state.lines + countLines(page.text),
        pages: state.pages + 1,
      };
      const done = page.nextCursor === null;
      if (done) rmSync(statePath, { force: true });
      else saveState(statePath, state);
      options.onProgress?.({ ...state, done, resumed });
      if (done)
        return { backupId: state.backupId, lines: state.lines, bytes: state.bytes, pages: state.pages, resumed };
    }
  } finally {
    closeSync(fd);
  }
}

interface ImportState {
  backupId: string;
  /** The next line to send (1-based). */
  line: number;
}

/** Most lines and bytes one import request carries (the API takes up to 1,000 lines and 5 MB). */
const BATCH_LINES = 500;
const BATCH_BYTES = 4 * 1024 * 1024;

/** What an import restored, summed over its requests (those of an earlier, interrupted run not included). */
export interface ImportTotals extends Omit<ImportLinesResult, "completed"> {
  /** The end line's counts: what the export wrote, by entity. */
  expected: Record<string, number>;
  resumed: boolean;
}

/**
 * Imports `file` into the deployment, in batches of lines, going on from `<file>.import` when an earlier import of
 * it was interrupted. The file must be a whole export (its end line last); `force` imports into a deployment that
 * is not empty.
 */
export async function importFromFile(
  client: NexusClient,
  file: string,
  options: { force?: boolean; onProgress?: (progress: { line: number; lines: number; done: boolean }) => void } = {},
): Promise<ImportTotals> {
  const statePath = `${file}.import`;
  const { backupId, lines: total, expected } = await describeFile(file);
  const saved = readState<ImportState>(statePath);
  const from = saved?.backupId === backupId ? saved.line : 1;
  const totals: ImportTotals = {
    backupId,
    lines: 0,
    restored: {},
    existing: 0,
    objects: 0,
    omittedObjects: 0,
    schedules: 0,
    resumedPlans: 0,
    expected,
    resumed: from > 1,
  };
  let batch: string[] = [];
  let batchBytes = 0;
  let first = from;
  const send = async () => {
    if (batch.length === 0) return;
    const result = await client.backup.importLines({
      backupId,
      firstLine: first,
      lines: batch,
      ...(options.force ? { force: true } : {}),
    });
    add(totals, result);
    first += batch.length;
    batch = [];
    batchBytes = 0;
    saveState(statePath, { backupId, line: first } satisfies ImportState);
    options.onProgress?.({ line: first - 1, lines: total, done: false });
  };
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) {
    line++;
    if (line < from) continue;
    const size = Buffer.byteLength(text) + 16;
    if (batch.length >= BATCH_LINES || (batch.length > 0 && batchBytes + size > BATCH_BYTES)) await send();
    batch.push(text);
    batchBytes += size;
  }
  await send();
  rmSync(statePath, { force: true });
  options.onProgress?.({ line: total, lines: total, done: true });
  return totals;
}

function add(totals: ImportTotals, result: ImportLinesResult) {
  totals.lines += result.lines;
  for (const [entity, n] of Object.entries(result.restored))
    totals.restored[entity] = (totals.restored[entity] ?? 0) + n;
  totals.existing += result.existing;
  totals.objects += result.objects;
  totals.omittedObjects += result.omittedObjects;
  totals.schedules += result.schedules;
  totals.resumedPlans += result.resumedPlans;
}

/** The backup's id (its header), its number of lines and its end line's counts; an incomplete file is refused. */
async function describeFile(
  file: string,
): Promise<{ backupId: string; lines: number; expected: Record<string, number> }> {
  if (!existsSync(file)) throw new BackupFileError("file_not_found", `${file} does not exist`);
  let header: { type?: string; backupId?: string } | undefined;
  let last = "";
  let lines = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) {
    lines++;
    if (lines === 1) {
      try {
        header = JSON.parse(text);
      } catch {
        header = undefined;
      }
    }
    if (text.trim() !== "") last = text;
  }
  if (header?.type !== "header" || typeof header.backupId !== "string") {
    throw new BackupFileError("not_a_backup", `${file}: line 1 is not a backup header`);
  }
  let end: { type?: string; counts?: Record<string, number> } | undefined;
  try {
    end = JSON.parse(last);
  } catch {
    end = undefined;
  }
  if (end?.type !== "end") {
    throw new BackupFileError(
      "incomplete_backup",
      `${file} has no end line: its export did not finish (run the export again to complete it)`,
    );
  }
  return { backupId: header.backupId, lines, expected: end.counts ?? {} };
}
