import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import * as z from "zod";
import * as Agents from "./agents.js";
import { perContext, TtlCache } from "./cache.js";
import type { Context } from "./context.js";
import { ConflictError, NexusError, NotFoundError, ValidationError } from "./errors.js";
import { pure } from "./pure.js";
import { AgentId, type Page } from "./schemas.js";
import * as Store from "./storage/api-keys.js";
import type { PageQuery } from "./storage/query.js";

/**
 * API keys: `nxk_<id>_<secret>`, where the secret is 32 random bytes (base64url). Only a SHA-256 hash of the
 * whole key is stored (a fast hash is right for 256-bit random secrets: there is nothing to brute-force);
 * the id is the non-secret prefix that names the key in lists, logs and the audit trail.
 */
export const Role = /* @__PURE__ */ pure(() => z.enum(["admin", "operator", "viewer", "agent"]));
export type Role = z.output<typeof Role>;

export const ApiKey = /* @__PURE__ */ pure(() =>
  z
    .object({
      id: z.string(),
      name: z.string(),
      role: Role,
      agentId: z.string().nullable().describe("For role agent: the one agent this key acts for"),
      prefix: z.string().describe("The start of the key, to recognise it; not secret"),
      createdBy: z.string(),
      createdAt: z.string(),
      lastUsedAt: z.string().nullable(),
      expiresAt: z.string().nullable(),
      revokedAt: z.string().nullable(),
      rateLimitPerMinute: z.number().int().nullable(),
    })
    .meta({ id: "ApiKey" }),
);
export type ApiKey = z.output<typeof ApiKey>;

export const CreateKeyInput = /* @__PURE__ */ pure(() =>
  z
    .strictObject({
      name: z.string().trim().min(1).max(100),
      role: Role,
      agentId: AgentId.optional().describe("Required for role agent, refused otherwise"),
      expiresAt: z.iso.datetime({ offset: true }).optional(),
      rateLimitPerMinute: z.number().int().min(1).max(100_000).optional(),
    })
    .meta({ id: "CreateKeyInput" }),
);
export type CreateKeyInput = z.output<typeof CreateKeyInput>;

/** Who is calling: the key's identity, held for the request and stamped on the audit trail. */
export interface Actor {
  keyId: string;
  role: Role;
  agentId: string | null;
  rateLimitPerMinute: number | null;
}

const KEY_PATTERN = /^nxk_([0-9a-z]{12})_([A-Za-z0-9_-]{43})$/;
const BOOTSTRAP_ID = "bootstrap";

const hash = (token: string) => createHash("sha256").update(token, "utf8").digest();

/** A new random key. */
export function generate(): { id: string; token: string } {
  const id = randomBytes(8).toString("hex").slice(0, 12);
  const token = `nxk_${id}_${randomBytes(32).toString("base64url")}`;
  return { id, token };
}

export function isWellFormed(token: string): boolean {
  return KEY_PATTERN.test(token);
}

/** Creates a key; the token is in the return value only, never stored and never shown again. */
export async function create(ctx: Context, raw: unknown, createdBy: string): Promise<{ key: ApiKey; token: string }> {
  const parsed = CreateKeyInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError("key is not valid", parsed.error.issues);
  const input = parsed.data;
  if (input.role === "agent" && !input.agentId) {
    throw new ValidationError("a key with role agent needs the agentId it acts for", { field: "agentId" });
  }
  if (input.role !== "agent" && input.agentId) {
    throw new ValidationError("only keys with role agent are bound to an agent", { field: "agentId" });
  }
  if (input.agentId) await Agents.get(ctx, input.agentId);
  const now = ctx.now();
  if (input.expiresAt && Date.parse(input.expiresAt) <= now.getTime()) {
    throw new ValidationError("expiresAt must be in the future", { field: "expiresAt" });
  }
  const { id, token } = generate();
  const key: ApiKey = {
    id,
    name: input.name,
    role: input.role,
    agentId: input.agentId ?? null,
    prefix: token.slice(0, 16),
    createdBy,
    createdAt: now.toISOString(),
    lastUsedAt: null,
    expiresAt: input.expiresAt ? new Date(input.expiresAt).toISOString() : null,
    revokedAt: null,
    rateLimitPerMinute: input.rateLimitPerMinute ?? null,
  };
  await Store.create(ctx, key, hash(token).toString("hex"));
  return { key, token };
}

export async function get(ctx: Context, id: string): Promise<ApiKey> {
  const key = await Store.find(ctx, id);
  if (!key) throw new NotFoundError("key", id);
  return key;
}

export function list(ctx: Context, query: PageQuery): Promise<Page<ApiKey>> {
  return Store.list(ctx, query);
}

/** Revokes a key for good. Revoking a revoked key is a 409; the bootstrap key is revoked by rotating its secret. */
export async function revoke(ctx: Context, id: string, by: Actor): Promise<ApiKey> {
  if (id === by.keyId) throw new ConflictError("key_in_use", "a key cannot revoke itself; use another admin key");
  const revoked = await Store.revoke(ctx, id, { at: ctx.now().toISOString(), by: by.keyId });
  if (!revoked) {
    await get(ctx, id); // 404 when it does not exist
    throw new ConflictError("key_revoked", `key '${id}' is already revoked`);
  }
  cacheOf(ctx).deleteWhere((entry) => entry.key.id === id);
  return revoked;
}

export class UnauthorizedError extends NexusError {
  constructor() {
    super("unauthorized", 401, "a valid API key is required: send Authorization: Bearer <key>");
  }
}

export class ForbiddenError extends NexusError {
  constructor(message = "this key's role does not allow this request") {
    super("forbidden", 403, message);
  }
}

const DUMMY_HASH = hash("nxk_000000000000_not-a-key-not-a-key-not-a-key-not-a-key-0000");

function sameHash(a: Buffer, b: Buffer) {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** How often lastUsedAt is written at most per key (a write per request would double the API's writes). */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Verified keys, per context, by the hash of the token: a Lambda instance looks a key up once per
 * {@link KEY_CACHE_MS}. Revocation clears the entry at once in the revoking instance; other instances
 * honour it within that time.
 */
export const KEY_CACHE_MS = 15_000;
const cacheOf = perContext<Context, TtlCache<{ key: ApiKey; touchedAt: number }>>(() => new TtlCache(KEY_CACHE_MS));

/**
 * The actor a bearer token stands for. Unknown, malformed, revoked and expired keys all end in the same
 * {@link UnauthorizedError}, after the same work (a lookup and a constant-time comparison).
 */
export async function authenticate(ctx: Context, token: string | undefined, bootstrapToken?: string): Promise<Actor> {
  const presented = hash(token ?? "");
  if (bootstrapToken && sameHash(presented, hash(bootstrapToken))) {
    return { keyId: BOOTSTRAP_ID, role: "admin", agentId: null, rateLimitPerMinute: null };
  }
  const now = ctx.now();
  const cache = cacheOf(ctx);
  const cacheKey = presented.toString("hex");
  let entry = cache.get(cacheKey, now.getTime());
  if (!entry) {
    const match = token ? KEY_PATTERN.exec(token) : null;
    const found = match ? await Store.findWithHash(ctx, match[1] ?? "") : undefined;
    const stored = found?.hash ? Buffer.from(found.hash, "hex") : DUMMY_HASH;
    const matches = sameHash(presented, stored) && Boolean(found);
    if (!found || !matches) throw new UnauthorizedError();
    const { key } = found;
    entry = { key, touchedAt: key.lastUsedAt ? Date.parse(key.lastUsedAt) : 0 };
    cache.set(cacheKey, entry, now.getTime());
  }
  const { key } = entry;
  if (key.revokedAt || (key.expiresAt && Date.parse(key.expiresAt) <= now.getTime())) throw new UnauthorizedError();
  if (now.getTime() - entry.touchedAt > LAST_USED_RESOLUTION_MS) {
    entry.touchedAt = now.getTime();
    await Store.touch(ctx, key.id, now.toISOString()).catch(() => undefined);
  }
  return { keyId: key.id, role: key.role, agentId: key.agentId, rateLimitPerMinute: key.rateLimitPerMinute };
}
