/**
 * Values that follow the async context, as AsyncLocalStorage keeps them, all in one AsyncLocalStorage. In Node 20 every
 * promise created copies each enabled AsyncLocalStorage's store onto itself, so each instance costs something on every
 * promise of the process (the AWS SDK's, the HTTP server's); the log context, an attempt's log, the trace's subsegment
 * and its propagation, and the events being gathered share this one instead of having one each.
 */
import { AsyncLocalStorage } from "node:async_hooks";

type Values = ReadonlyMap<AsyncSlot<unknown>, unknown>;

const storage = new AsyncLocalStorage<Values>();

/** One value in the shared async context: `run` and `getStore`, as an AsyncLocalStorage of its own would have them. */
export class AsyncSlot<T> {
  /** Runs `fn` with this slot holding `value` (the other slots keep theirs), and returns what `fn` returns. */
  run<R>(value: T, fn: () => R): R {
    const values = new Map(storage.getStore());
    values.set(this, value);
    return storage.run(values, fn);
  }

  /** The value of the innermost `run` of this slot in the caller's async context, if any. */
  getStore(): T | undefined {
    return storage.getStore()?.get(this) as T | undefined;
  }
}
