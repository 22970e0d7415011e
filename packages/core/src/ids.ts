import { randomFillSync } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case
const RANDOM_LENGTH = 16; // 80 bits

function encodeTime(ms: number, length: number): string {
  let out = "";
  let value = ms;
  for (let i = 0; i < length; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/** Random bytes drawn 4 KB at a time: one call into the system's generator per 256 ids, not one per id. */
const pool = Buffer.alloc(4096);
let drawn = pool.length;

function randomDigits(): number[] {
  if (drawn + RANDOM_LENGTH > pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  const digits = Array.from(pool.subarray(drawn, drawn + RANDOM_LENGTH), (byte) => byte % 32);
  drawn += RANDOM_LENGTH;
  return digits;
}

/** Adds one to a base-32 number held as digits (most significant first). */
function increment(digits: number[]): number[] {
  const next = [...digits];
  for (let i = next.length - 1; i >= 0; i--) {
    const digit = (next[i] ?? 0) + 1;
    next[i] = digit % 32;
    if (digit < 32) return next;
  }
  return randomDigits(); // overflow of 80 bits within one millisecond: cannot happen in practice
}

/**
 * The bound below which lie the ids made before `at` (with `prefix`): every id whose time is earlier sorts before it,
 * and every id made at or after `at` sorts after it.
 */
export function idsBefore(prefix: string, at: Date): string {
  return `${prefix}_${encodeTime(Math.max(0, at.getTime()), 10)}`;
}

let lastTime = -1;
let lastRandom: number[] = [];

/**
 * A ULID-like id: 10 characters of millisecond time then 16 random characters (80 bits), so ids sort by
 * creation time, which is what "newest first" queries use as their sort key. Monotonic within a process:
 * ids made in the same millisecond (or with a clock that stepped back) still sort in the order made.
 */
export function newId(prefix: string, now: Date = new Date()): string {
  let time = now.getTime();
  if (time <= lastTime) {
    time = lastTime;
    lastRandom = increment(lastRandom);
  } else {
    lastRandom = randomDigits();
  }
  lastTime = time;
  return `${prefix}_${encodeTime(time, 10)}${lastRandom.map((d) => ALPHABET[d]).join("")}`;
}
