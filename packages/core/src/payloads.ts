import { createHash } from "node:crypto";
import * as z from "zod";
import type { Context } from "./context.js";
import { NexusError, NotFoundError } from "./errors.js";
import { pure } from "./pure.js";
import type { PayloadLink, Task } from "./schemas.js";

/**
 * A task's params and result by reference. Up to {@link INLINE_BYTES} of JSON they are stored on the task item, as
 * before; above it, in the object store (`ctx.payloads`: S3 in AWS, a directory locally) and the item keeps a
 * {@link PayloadRef}: key, size, SHA-256 and content type, a hundred-odd bytes. Keys are content-addressed per task
 * (and per attempt for results), so a retried write of the same payload writes the same bytes under the same key,
 * and an attempt that lost its task never overwrites the winner's object. Whoever reads a payload (the agent's
 * worker, a remote claim, a plan's references, the API) loads it through here and checks its hash.
 */

/** Params and results up to this size (JSON, UTF-8) stay on the task item; larger ones go to the object store. */
export const INLINE_BYTES = 32 * 1024;
/** `GET /v1/tasks/{id}` shows a stored payload inline up to this size; above it, only its download link. */
export const SHOWN_INLINE_BYTES = 256 * 1024;
/** Largest params or result a task may have. */
export const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

const CONTENT_TYPE = "application/json";

export type PayloadKind = "params" | "result";

/** What the task item keeps of a payload in the object store. */
export const PayloadRef = /* @__PURE__ */ pure(() =>
  z.object({
    key: z.string(),
    bytes: z.number().int(),
    sha256: z.string(),
    contentType: z.string(),
  }),
);
export type PayloadRef = z.output<typeof PayloadRef>;

/** What a task record holds of its params and result: inline values, or references. */
export interface PayloadFields {
  id: string;
  params: unknown;
  paramsRef?: PayloadRef | undefined;
  result?: unknown;
  resultRef?: PayloadRef | undefined;
}

const sha256 = (body: Uint8Array) => createHash("sha256").update(body).digest("hex");

/** Where a payload lives: per task, by kind, by attempt for results, by content. */
function keyOf(taskId: string, kind: PayloadKind, hash: string, attempt?: number) {
  const safeId = taskId.replace(/[^\w-]/g, "_");
  return kind === "params" ? `tasks/${safeId}/params-${hash}.json` : `tasks/${safeId}/result-${attempt}-${hash}.json`;
}

function storeOf(ctx: Context) {
  if (!ctx.payloads) {
    throw new NexusError("payloads_unconfigured", 500, "no payload store is configured (NEXUS_PAYLOADS)");
  }
  return ctx.payloads;
}

/**
 * The fields to store for a payload given as JSON text: `{value}` to keep on the item when it is small, else
 * `{ref}` once the object is written.
 */
export async function keep(
  ctx: Context,
  where: { taskId: string; kind: PayloadKind; attempt?: number },
  value: unknown,
  text: string = JSON.stringify(value ?? null),
): Promise<{ value: unknown; ref?: undefined } | { value?: undefined; ref: PayloadRef }> {
  const body = Buffer.from(text, "utf8");
  if (body.byteLength <= INLINE_BYTES) return { value };
  const hash = sha256(body);
  const key = keyOf(where.taskId, where.kind, hash, where.attempt);
  await storeOf(ctx).put(key, body, CONTENT_TYPE);
  return { ref: { key, bytes: body.byteLength, sha256: hash, contentType: CONTENT_TYPE } };
}

/** The stored bytes of a reference, checked against its hash; a missing or altered object is a non-retriable fault. */
export async function bytesOf(ctx: Context, ref: PayloadRef): Promise<Uint8Array> {
  const body = await storeOf(ctx).get(ref.key);
  if (!body) throw new NexusError("payload_missing", 500, "a stored payload of this task is missing");
  if (body.byteLength !== ref.bytes || sha256(body) !== ref.sha256) {
    throw new NexusError("payload_corrupt", 500, "a stored payload of this task does not match its SHA-256");
  }
  return body;
}

const parsed = async (ctx: Context, ref: PayloadRef): Promise<unknown> =>
  JSON.parse(Buffer.from(await bytesOf(ctx, ref)).toString("utf8"));

/** A task's params, loaded from the object store when they are there. */
export const paramsOf = (ctx: Context, task: PayloadFields): Promise<unknown> =>
  task.paramsRef ? parsed(ctx, task.paramsRef) : Promise.resolve(task.params);

/** A task's result (undefined before it has one), loaded from the object store when it is there. */
export const resultOf = (ctx: Context, task: PayloadFields): Promise<unknown> =>
  task.resultRef ? parsed(ctx, task.resultRef) : Promise.resolve(task.result);

/** The public form of a reference: size, hash, type and the API path that downloads it (never the object key). */
export const linkOf = (taskId: string, kind: PayloadKind, ref: PayloadRef): PayloadLink => ({
  bytes: ref.bytes,
  sha256: ref.sha256,
  contentType: ref.contentType,
  href: `/v1/tasks/${encodeURIComponent(taskId)}/${kind}`,
});

/** A public task with its stored params and result shown inline up to {@link SHOWN_INLINE_BYTES}. */
export async function shown(ctx: Context, record: PayloadFields, task: Task): Promise<Task> {
  const out: Task = { ...task };
  if (record.paramsRef && record.paramsRef.bytes <= SHOWN_INLINE_BYTES) out.params = await paramsOf(ctx, record);
  if (record.resultRef && record.resultRef.bytes <= SHOWN_INLINE_BYTES) out.result = await resultOf(ctx, record);
  return out;
}

/** How the API hands out a payload: a short-lived URL to send the caller to, or the JSON itself. */
export type Download = { url: string } | { body: Uint8Array; contentType: string; sha256: string };

/**
 * A task's params or result for download: a presigned URL when the store has them (S3), else the bytes. A task
 * without a result yet is a 404.
 */
export async function download(ctx: Context, task: PayloadFields, kind: PayloadKind): Promise<Download> {
  const ref = kind === "params" ? task.paramsRef : task.resultRef;
  if (!ref) {
    const value = kind === "params" ? task.params : task.result;
    if (value === undefined) throw new NotFoundError(kind, task.id);
    const body = Buffer.from(JSON.stringify(value), "utf8");
    return { body, contentType: CONTENT_TYPE, sha256: sha256(body) };
  }
  const store = storeOf(ctx);
  if (store.downloadUrl) {
    const filename = `${task.id.replace(/[^\w-]/g, "_")}-${kind}.json`;
    return { url: await store.downloadUrl(ref.key, { expiresInSeconds: 300, filename }) };
  }
  return { body: await bytesOf(ctx, ref), contentType: ref.contentType, sha256: ref.sha256 };
}
