import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

/** A stored file (a screenshot): where to get it, and what it is. */
export interface StoredArtifact {
  url: string;
  bytes: number;
  contentType: string;
}

/** Where the research agent keeps what it does not inline in a result (screenshots). */
export interface ArtifactStore {
  /** Stores `body` under `key` (a relative path of `[\w.-]` segments) and returns a link to it. */
  put(key: string, body: Uint8Array, contentType: string): Promise<StoredArtifact>;
}

const KEY = /^[\w-]+(?:\/[\w.-]+)*\.[a-z0-9]+$/;

function checkKey(key: string) {
  if (!KEY.test(key) || key.split("/").some((part) => part === "." || part === "..")) {
    throw new Error(`invalid artifact key '${key}'`);
  }
}

/**
 * Files under a directory, linked through a base URL that serves it (the local research stand-in serves
 * `NEXUS_ARTIFACTS_DIR` at `NEXUS_ARTIFACTS_URL`). Written to a temporary name first, then renamed: a reader
 * never sees half a file.
 */
export function fileArtifactStore(options: { dir: string; baseUrl: string }): ArtifactStore {
  const root = resolve(options.dir);
  const base = options.baseUrl.replace(/\/+$/, "");
  return {
    async put(key, body, contentType) {
      checkKey(key);
      const file = resolve(root, key);
      if (!file.startsWith(`${root}${sep}`)) throw new Error(`artifact key '${key}' leaves the artifacts directory`);
      await mkdir(dirname(file), { recursive: true });
      const temporary = join(dirname(file), `.${process.pid}-${Date.now()}.tmp`);
      await writeFile(temporary, body);
      await rename(temporary, file);
      return { url: `${base}/${key}`, bytes: body.byteLength, contentType };
    },
  };
}

/** Objects in an S3 bucket, linked by a presigned GET URL (valid for `expiresInSeconds`, default 1 hour). */
export function s3ArtifactStore(options: {
  bucket: string;
  prefix?: string;
  client?: S3Client;
  expiresInSeconds?: number;
}): ArtifactStore {
  const client = options.client ?? new S3Client({});
  const prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
  return {
    async put(key, body, contentType) {
      checkKey(key);
      const Key = prefix ? `${prefix}/${key}` : key;
      await client.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key,
          Body: body,
          ContentType: contentType,
          ContentDisposition: "inline",
        }),
      );
      const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: options.bucket, Key }), {
        expiresIn: options.expiresInSeconds ?? 3600,
      });
      return { url, bytes: body.byteLength, contentType };
    },
  };
}

/**
 * The store the configuration names: S3 when `NEXUS_ARTIFACTS_BUCKET` is set (AWS), a directory when
 * `NEXUS_ARTIFACTS_DIR` and `NEXUS_ARTIFACTS_URL` are (local), none otherwise.
 */
export function artifactStoreFromConfig(
  config: Readonly<Record<string, string | undefined>>,
): ArtifactStore | undefined {
  const bucket = config.NEXUS_ARTIFACTS_BUCKET;
  if (bucket) {
    const prefix = config.NEXUS_ARTIFACTS_PREFIX;
    return s3ArtifactStore({ bucket, ...(prefix ? { prefix } : {}) });
  }
  const dir = config.NEXUS_ARTIFACTS_DIR;
  const baseUrl = config.NEXUS_ARTIFACTS_URL;
  if (dir && baseUrl) return fileArtifactStore({ dir, baseUrl });
  return undefined;
}
