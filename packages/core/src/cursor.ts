import { ValidationError } from "./errors.js";

type Key = Record<string, string>;

/** Opaque page cursors: the index's LastEvaluatedKey, bound to the listing that produced it. */
export function encodeCursor(scope: string, key: Record<string, unknown> | undefined): string | null {
  if (!key) return null;
  return Buffer.from(JSON.stringify({ s: scope, k: key })).toString("base64url");
}

export function decodeCursor(scope: string, cursor: string | undefined, keyNames: readonly string[]): Key | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new ValidationError("cursor is not valid", { field: "cursor" });
  }
  const { s, k } = (parsed ?? {}) as { s?: unknown; k?: unknown };
  if (s !== scope || typeof k !== "object" || k === null) {
    throw new ValidationError("cursor does not belong to this listing", { field: "cursor" });
  }
  const entries = Object.entries(k);
  const valid =
    entries.length === keyNames.length &&
    entries.every(([name, value]) => keyNames.includes(name) && typeof value === "string" && value.length <= 512);
  if (!valid) throw new ValidationError("cursor is not valid", { field: "cursor" });
  return Object.fromEntries(entries) as Key;
}
