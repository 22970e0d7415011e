import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * local-aws-sqs with SQS's long-poll semantics. Its ReceiveMessage scans the queue every 10 ms but answers only
 * once it holds `MaxNumberOfMessages` messages or the wait is over, so a poller asking for a batch of 10 waits the
 * whole `WaitTimeSeconds` for a single message. SQS answers as soon as any message is there. The fix is one
 * expression of its bundle, applied when it is loaded (the locked version 2.0.2): answer after the first scan that
 * found anything, and scan every 2 ms. A version without that expression fails loudly here rather than slowly.
 */
type SqsModule = typeof import("local-aws-sqs");

const require = createRequire(import.meta.url);
const WAITS_FOR_A_FULL_BATCH = "if(r.length==e){clearInterval(c),clearTimeout(n),o();break}}},10)";
const ANSWERS_WITH_WHAT_IS_THERE = "if(r.length==e)break}if(r.length>0){clearInterval(c),clearTimeout(n),o()}},2)";

let loaded: SqsModule | undefined;

export function localSqs(): SqsModule {
  if (loaded) return loaded;
  const path = require.resolve("local-aws-sqs");
  const source = readFileSync(path, "utf8");
  if (!source.includes(WAITS_FOR_A_FULL_BATCH)) {
    throw new Error(`local-aws-sqs at ${path} is not the version whose long poll this runtime fixes (2.0.2)`);
  }
  const module = { exports: {} as SqsModule };
  const compiled = new Function(
    "module",
    "exports",
    "require",
    "__filename",
    "__dirname",
    source.replace(WAITS_FOR_A_FULL_BATCH, ANSWERS_WITH_WHAT_IS_THERE),
  );
  compiled(module, module.exports, createRequire(path), path, path.slice(0, path.lastIndexOf("/")));
  loaded = module.exports;
  return loaded;
}
