import type { S3Client } from "@aws-sdk/client-s3";
import { fileObjectStore, type ObjectStore, s3ObjectStore } from "@nexus/core";

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

/** An object store (core's objects.ts) whose objects are linked by `link`. */
function linkedStore(objects: ObjectStore, link: (key: string) => Promise<string>): ArtifactStore {
  return {
    async put(key, body, contentType) {
      await objects.put(key, body, contentType);
      return { url: await link(key), bytes: body.byteLength, contentType };
    },
  };
}

/**
 * Files under a directory, linked through a base URL that serves it (the local research stand-in serves
 * `NEXUS_ARTIFACTS_DIR` at `NEXUS_ARTIFACTS_URL`).
 */
export function fileArtifactStore(options: { dir: string; baseUrl: string }): ArtifactStore {
  const base = options.baseUrl.replace(/\/+$/, "");
  return linkedStore(fileObjectStore({ dir: options.dir }), async (key) => `${base}/${key}`);
}

/** Objects in an S3 bucket, linked by a presigned GET URL (valid for `expiresInSeconds`, default 1 hour). */
export function s3ArtifactStore(options: {
  bucket: string;
  prefix?: string;
  client?: S3Client;
  expiresInSeconds?: number;
}): ArtifactStore {
  const objects = s3ObjectStore(options);
  const expiresInSeconds = options.expiresInSeconds ?? 3600;
  return linkedStore(objects, (key) => objects.downloadUrl(key, { expiresInSeconds }));
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
