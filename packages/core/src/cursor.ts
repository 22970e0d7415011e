import { ValidationError } from "./errors.js";

type Key = Record<string, string>;

/** DynamoDB's limit for a sort key value (a partition key may be longer; no key here is). */
const MAX_KEY_BYTES = 1024;

/** The 400 for a cursor this listing did not issue; also used when DynamoDB refuses a start key. */
export const invalidCursor = (message = "cursor is not valid") => new ValidationError(message, { field: "cursor" });

/** Opaque page cursors: the index's LastEvaluatedKey, bound to the listing that produced it. */
export function encodeCursor(scope: string, key: Record<string, unknown> | undefined): string | null {
  if (!key) return null;
  return Buffer.from(JSON.stringify({ s: scope, k: key })).toString("base64url");
}

/**
 * The start key in a cursor issued for `scope`: exactly the key attributes `keyNames`, each a non-empty string
 * DynamoDB accepts as a key, and those in `fixed` holding their listing's values (the index partition the
 * Query reads), so a cursor edited to point into another partition is refused here rather than by DynamoDB.
 */
export function decodeCursor(
  scope: string,
  cursor: string | undefined,
  keyNames: readonly string[],
  fixed: Readonly<Key> = {},
): Key | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor();
  }
  const { s, k } = (parsed ?? {}) as { s?: unknown; k?: unknown };
  if (s !== scope || typeof k !== "object" || k === null || Array.isArray(k)) {
    throw invalidCursor("cursor does not belong to this listing");
  }
  const entries = Object.entries(k);
  const valid =
    entries.length === keyNames.length &&
    entries.every(
      ([name, value]) =>
        keyNames.includes(name) &&
        typeof value === "string" &&
        value.length > 0 &&
        Buffer.byteLength(value, "utf8") <= MAX_KEY_BYTES,
    );
  if (!valid) throw invalidCursor();
  const key = Object.fromEntries(entries) as Key;
  if (Object.entries(fixed).some(([name, value]) => key[name] !== value)) {
    throw invalidCursor("cursor does not belong to this listing");
  }
  return key;
}
