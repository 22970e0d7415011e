/**
 * Loading on first use. A client of a service few invocations need (Step Functions, Lambda, EventBridge Scheduler,
 * Secrets Manager) is made when it is first called, its SDK imported with `import()`: bundled with code splitting, that
 * SDK is a chunk of its own, read then rather than at cold start. The SDK comes through a module of ./sdk/ that names
 * what Nexus calls, not whole (sdk/s3.ts says why).
 */

/** A client as given (made by the caller), or a factory that makes it on first use. */
export type ClientSource<T extends object> = T | (() => Promise<T>);

/** Calls `load` once, on the first call, and shares its result; a failure is not kept, the next call tries again. */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}

type ClientHook = <T extends object>(client: T) => T;
let madeHook: ClientHook | undefined;

/**
 * What every client a factory makes passes through before its first use (a Lambda function's tracer captures it, so
 * its calls are traced like those of the clients made at cold start); returns what removes the hook.
 */
export function onClientMade(hook: ClientHook): () => void {
  madeHook = hook;
  return () => {
    if (madeHook === hook) madeHook = undefined;
  };
}

/** The client of `source`: the given one, or the one its factory makes on the first call. */
export function clientOf<T extends object>(source: ClientSource<T>): () => Promise<T> {
  if (typeof source === "function") {
    return once(async () => {
      const client = await (source as () => Promise<T>)();
      return madeHook ? madeHook(client) : client;
    });
  }
  return () => Promise.resolve(source);
}

/** The SDK module `sdk` imports and the client of `source`, both loaded on the first call. */
export function withSdk<M, C extends object>(sdk: () => Promise<M>, source: ClientSource<C>): () => Promise<[M, C]> {
  const connect = clientOf(source);
  return () => Promise.all([sdk(), connect()]);
}
