import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { withSdk } from "./lazy.js";

/**
 * Object storage: an S3 bucket in AWS, a directory locally. Task payloads (payloads.ts) and the research agent's
 * screenshots are kept in one. The S3 SDK is loaded on first use, so a function that never touches a payload does
 * not pay for it at cold start.
 */
export interface ObjectStore {
  /** Stores `body` under `key` (a relative path of `[\w.-]` segments); writing the same key again replaces it. */
  put(key: string, body: Uint8Array, contentType: string): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * A short-lived URL that downloads the object without an API key (S3: presigned GET). Absent where the
   * store has none (a directory): the caller serves the bytes itself.
   */
  downloadUrl?(key: string, options?: { expiresInSeconds?: number; filename?: string }): Promise<string>;
}

const KEY = /^[\w-]+(?:\/[\w.-]+)*\.[a-z0-9]+$/;

/** Refuses a key that is not a relative path of plain segments (no `..`, no leading `/`, an extension). */
export function checkKey(key: string) {
  if (!KEY.test(key) || key.split("/").some((part) => part === "." || part === "..")) {
    throw new Error(`invalid object key '${key}'`);
  }
}

/**
 * Files under a directory. Written to a temporary name first, then renamed: a reader never sees half a file, and
 * two writers of the same key leave one whole file.
 */
export function fileObjectStore(options: { dir: string }): ObjectStore & { fileOf(key: string): string } {
  const root = resolve(options.dir);
  const fileOf = (key: string) => {
    checkKey(key);
    const file = resolve(root, key);
    if (!file.startsWith(`${root}${sep}`)) throw new Error(`object key '${key}' leaves the store's directory`);
    return file;
  };
  let sequence = 0;
  return {
    fileOf,
    async put(key, body) {
      const file = fileOf(key);
      await mkdir(dirname(file), { recursive: true });
      const temporary = join(dirname(file), `.${process.pid}-${Date.now()}-${sequence++}.tmp`);
      await writeFile(temporary, body);
      await rename(temporary, file);
    },
    async get(key) {
      return readFile(fileOf(key)).then(
        (buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength),
        (error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT") return undefined;
          throw error;
        },
      );
    },
  };
}

/** Objects in an S3 bucket, under an optional prefix; download URLs are presigned GETs (default 5 minutes). */
export function s3ObjectStore(options: { bucket: string; prefix?: string; client?: S3Client }): Required<ObjectStore> {
  const prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
  const objectKey = (key: string) => {
    checkKey(key);
    return prefix ? `${prefix}/${key}` : key;
  };
  const sdk = () => import("./sdk/s3.js");
  const loaded = withSdk(sdk, options.client ?? (async () => new (await sdk()).S3Client({})));
  return {
    async put(key, body, contentType) {
      const [s3, client] = await loaded();
      await client.send(
        new s3.PutObjectCommand({
          Bucket: options.bucket,
          Key: objectKey(key),
          Body: body,
          ContentType: contentType,
          ContentDisposition: "inline",
        }),
      );
    },
    async get(key) {
      const [s3, client] = await loaded();
      try {
        const out = await client.send(new s3.GetObjectCommand({ Bucket: options.bucket, Key: objectKey(key) }));
        return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
      } catch (error) {
        if (error instanceof s3.NoSuchKey) return undefined;
        throw error;
      }
    },
    async downloadUrl(key, { expiresInSeconds = 300, filename } = {}) {
      const [s3, client] = await loaded();
      const { getSignedUrl } = await import("@aws-sdk/s3-request-presigner");
      const command = new s3.GetObjectCommand({
        Bucket: options.bucket,
        Key: objectKey(key),
        ...(filename ? { ResponseContentDisposition: `attachment; filename="${filename}"` } : {}),
      });
      return getSignedUrl(client, command, { expiresIn: expiresInSeconds });
    },
  };
}
