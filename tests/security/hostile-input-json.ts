/**
 * Raw JSON text for hostile bodies: `JSON.stringify` cannot write a `__proto__` key (it drops it, or the
 * object literal sets the prototype instead), duplicate keys, `NaN`, `1e999` or 100,000-level nesting
 * without blowing the stack, so hostile bodies are built from these pieces and serialised by {@link toJson}.
 */

/** Pre-serialised JSON (or deliberately not-JSON) text, inserted as is. */
export class Raw {
  constructor(readonly text: string) {}
}

/** An object as an ordered list of entries: keys may repeat and may be `__proto__`. */
export class Entries {
  constructor(readonly entries: ReadonlyArray<readonly [string, Json]>) {}
}

export type Json =
  | null
  | boolean
  | number
  | string
  | Raw
  | Entries
  | readonly Json[]
  | { readonly [key: string]: Json };
export type Obj = { readonly [key: string]: Json };

export function toJson(value: Json): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Entries) {
    return `{${value.entries.map(([key, v]) => `${JSON.stringify(key)}:${toJson(v)}`).join(",")}}`;
  }
  if (Array.isArray(value)) return `[${value.map((v: Json) => toJson(v)).join(",")}]`;
  if (value !== null && typeof value === "object") return toJson(new Entries(Object.entries(value)));
  if (typeof value === "number" && !Number.isFinite(value)) return value > 0 ? "1e999" : "-1e999";
  return JSON.stringify(value);
}

const entriesOf = (base: Obj | Entries): Array<readonly [string, Json]> =>
  base instanceof Entries ? [...base.entries] : Object.entries(base);

/** `base` with `key` set to `value` (replacing it). */
export function set(base: Obj | Entries, key: string, value: Json): Entries {
  return new Entries([...entriesOf(base).filter(([k]) => k !== key), [key, value]]);
}

/** `base` without `key`. */
export function omit(base: Obj | Entries, key: string): Entries {
  return new Entries(entriesOf(base).filter(([k]) => k !== key));
}

/** `base` with one more entry, even a key it already has or `__proto__` (a duplicate key: the last wins). */
export function append(base: Obj | Entries, key: string, value: Json): Entries {
  return new Entries([...entriesOf(base), [key, value]]);
}

/** Nested `depth` levels deep, as text (cheap, and no recursion anywhere). */
export function nested(depth: number, shape: "array" | "object" | "mixed"): Raw {
  switch (shape) {
    case "array":
      return new Raw(`${"[".repeat(depth)}${"]".repeat(depth)}`);
    case "object":
      return new Raw(`${'{"a":'.repeat(depth)}0${"}".repeat(depth)}`);
    case "mixed": {
      const half = Math.ceil(depth / 2);
      return new Raw(`${'[{"a":'.repeat(half)}0${"}]".repeat(half)}`);
    }
  }
}
