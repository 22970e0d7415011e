import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case

function encodeTime(ms: number, length: number): string {
  let out = "";
  let value = ms;
  for (let i = 0; i < length; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

function encodeRandom(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const byte of bytes) out += ALPHABET[byte % 32];
  return out;
}

/**
 * A ULID-like id: 10 characters of millisecond time then 16 random characters (80 bits), so ids
 * sort by creation time, which is what "newest first" queries use as their sort key.
 */
export function newId(prefix: string, now: Date = new Date()): string {
  return `${prefix}_${encodeTime(now.getTime(), 10)}${encodeRandom(16)}`;
}
