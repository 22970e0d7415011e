import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * local-aws-sqs with SQS's long-poll semantics. Its ReceiveMessage scans the queue every 10 ms but answers only
 * once it holds `MaxNumberOfMessages` messages or the wait is over, so a poller asking for a batch of 10 waits the
 * whole `WaitTimeSeconds` for a single message. SQS answers as soon as any message is there. The fix is one
 * expression of its bundle, applied when it is loaded (the locked version 2.0.2): answer after the first scan that
 * found anything, and scan every 2 ms. A version without that expression fails loudly here rather than slowly.
 *
 * Also, for the local alarms (alarms.ts): GetQueueAttributes answers `ApproximateAgeOfOldestMessage`, seconds since the
 * oldest message not delayed was sent. In AWS that is a CloudWatch metric of the queue, not an attribute; the runtime
 * samples it from here as CloudWatch would from SQS.
 *
 * And `ApproximateNumberOfMessages` counts what SQS counts, the messages available to receive: the bundle counted the
 * messages in flight too (which `ApproximateNumberOfMessagesNotVisible` counts again), so a queue with one message
 * being worked on looked as if one more waited.
 */
type SqsModule = typeof import("local-aws-sqs");

const require = createRequire(import.meta.url);
const WAITS_FOR_A_FULL_BATCH = "if(r.length==e){clearInterval(c),clearTimeout(n),o();break}}},10)";
const ANSWERS_WITH_WHAT_IS_THERE = "if(r.length==e)break}if(r.length>0){clearInterval(c),clearTimeout(n),o()}},2)";
/** Where GetQueueAttributes lists the queue's counts, and the names it accepts. */
const DELAYED_COUNT = "ApproximateNumberOfMessagesDelayed:String(S(this,ge)),";
const WITH_OLDEST_AGE = `${DELAYED_COUNT}ApproximateAgeOfOldestMessage:String(S(this,E).filter(o=>!o.delayed).reduce((a,o)=>Math.max(a,Math.floor((Date.now()-Number(o.record.attributes.SentTimestamp))/1e3)),0)),`;
const ATTRIBUTE_NAMES = 'let r=["QueueArn","ApproximateNumberOfMessages",';
const WITH_AGE_NAME = 'let r=["QueueArn","ApproximateAgeOfOldestMessage","ApproximateNumberOfMessages",';
const COUNTS_IN_FLIGHT = "ApproximateNumberOfMessages:String(S(this,E).filter(o=>!o.delayed).length)";
const COUNTS_AVAILABLE = "ApproximateNumberOfMessages:String(S(this,E).filter(o=>!o.delayed&&o.visible).length)";
/** What this runtime changes in the bundle: each expression must be there exactly once. */
const PATCHES: ReadonlyArray<[string, string]> = [
  [WAITS_FOR_A_FULL_BATCH, ANSWERS_WITH_WHAT_IS_THERE],
  [DELAYED_COUNT, WITH_OLDEST_AGE],
  [ATTRIBUTE_NAMES, WITH_AGE_NAME],
  [COUNTS_IN_FLIGHT, COUNTS_AVAILABLE],
];

let loaded: SqsModule | undefined;

export function localSqs(): SqsModule {
  if (loaded) return loaded;
  const path = require.resolve("local-aws-sqs");
  const source = readFileSync(path, "utf8");
  let patched = source;
  for (const [from, to] of PATCHES) {
    if (patched.split(from).length !== 2) {
      throw new Error(`local-aws-sqs at ${path} is not the version whose long poll this runtime fixes (2.0.2)`);
    }
    patched = patched.replace(from, to);
  }
  const module = { exports: {} as SqsModule };
  const compiled = new Function("module", "exports", "require", "__filename", "__dirname", patched);
  compiled(module, module.exports, createRequire(path), path, path.slice(0, path.lastIndexOf("/")));
  loaded = module.exports;
  return loaded;
}
