/**
 * Builds a module-level value (a zod schema) in a way the bundler may leave out: `/* @__PURE__ *\/ pure(() => …)` is a
 * call whose only argument has no side effects, so esbuild drops it from a function's bundle when nothing there reads
 * the value. A pure mark on the schema's own expression is not enough once it nests other calls
 * (`z.object({ a: A.optional() })`): the nested calls are kept, and with them the whole schema.
 */
export const pure = <T>(make: () => T): T => make();
