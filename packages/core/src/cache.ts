/** A small time-bounded cache of values per process (a Lambda instance keeps it across invocations). */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 1000,
  ) {}

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, now: number): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, until: now + this.ttlMs });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  deleteWhere(test: (value: V) => boolean): void {
    for (const [key, entry] of this.entries) if (test(entry.value)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** A value per context, made on first use and dropped with the context (a WeakMap): caches, counters. */
export function perContext<C extends object, T>(create: () => T): (ctx: C) => T {
  const values = new WeakMap<C, T>();
  return (ctx) => {
    let value = values.get(ctx);
    if (value === undefined) {
      value = create();
      values.set(ctx, value);
    }
    return value;
  };
}
