import { setTimeout as sleep } from "node:timers/promises";
import type { Context as LambdaContext } from "aws-lambda";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger, type LogRecord, withLogContext } from "./log.js";
import { rememberSecret } from "./redact.js";

describe("log contexts", () => {
  it("keep each concurrent unit of work's ids on its own records, nested contexts adding to their outer one", async () => {
    // Prepare: one logger shared by two concurrent tasks, as a batch's records share their agent's logger.
    const logger = createLogger("nexus-test", { level: "INFO" });
    const seen: LogRecord[] = [];
    const tee = (record: LogRecord) => seen.push(record);
    const work = (taskId: string, pauseMs: number) =>
      withLogContext({ taskId, agentId: "diag" }, async () => {
        await sleep(pauseMs);
        await withLogContext({ attempt: 1, attemptId: `${taskId}#1` }, async () => {
          await sleep(pauseMs);
          logger.info("inner", { taskIdSeen: taskId });
        });
        logger.info("outer", { taskIdSeen: taskId });
      });

    // Act: interleaved at every await.
    const realWrite = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await withLogContext({ requestId: "req-1" }, () => Promise.all([work("tsk_a", 5), work("tsk_b", 1)]), { tee });
    } finally {
      process.stdout.write = realWrite;
    }

    // Assess: each record has its own task's ids, the request's, and the attempt's only inside the inner context.
    expect(seen).toHaveLength(4);
    for (const record of seen) {
      expect(record.taskId).toBe(record.taskIdSeen);
      expect(record.requestId).toBe("req-1");
      expect(record.agentId).toBe("diag");
      expect(record.attemptId).toBe(record.message === "inner" ? `${record.taskId}#1` : undefined);
    }
  });
});

/**
 * The records as Powertools Logger wrote them with Nexus's formatter before the logger was Nexus's own: each expected
 * line below is what that logger printed for the same calls (same keys in the same order, same streams).
 */
describe("log records", () => {
  const NOW = "2026-03-04T05:06:07.089Z";
  const written: string[] = [];
  const saved = { ...process.env };
  let restore = () => {};
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date(NOW));
    for (const name of ["POWERTOOLS_LOG_LEVEL", "LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL", "_X_AMZN_TRACE_ID", "TZ"]) {
      delete process.env[name];
    }
    const out = process.stdout.write;
    const err = process.stderr.write;
    process.stdout.write = ((chunk: string) => written.push(`out ${chunk}`) > 0) as typeof out;
    process.stderr.write = ((chunk: string) => written.push(`err ${chunk}`) > 0) as typeof err;
    restore = () => {
      process.stdout.write = out;
      process.stderr.write = err;
    };
  });
  afterEach(() => {
    restore();
    vi.useRealTimers();
    process.env = { ...saved };
    written.length = 0;
  });
  /** What was written, one entry per line: its stream and the line. */
  const lines = () => written.map((chunk) => chunk.replace(/\n$/, ""));
  const head = (level: string, message: string, service = "nexus-test") =>
    `"level":"${level}","message":"${message}","timestamp":"${NOW}","service":"${service}"`;
  /** An error with a stack of its own (the real one names this file's lines). */
  const failure = <E extends Error>(error: E, at: string) => Object.assign(error, { stack: `${error.name}: ${at}` });

  it("are one JSON object per line, TRACE to INFO on stdout and WARN and above on stderr, fields after the level, message, timestamp and service", () => {
    const logger = createLogger("nexus-test", { level: "TRACE" });
    logger.trace("t");
    logger.debug("d");
    logger.info("i", { a: 1, b: { c: [1, "x"] } });
    logger.warn("w", "extra text");
    logger.error("e", { code: 7 }, "one", "two", null, undefined);
    logger.critical("c");
    logger.info({ message: "as an object", k: 2 }, { z: null, y: "", x: undefined, n: 0, f: false });
    logger.info("values", { n: 10n, d: new Date("2020-01-01T00:00:00Z"), list: [1, null, "s"] });
    expect(lines()).toEqual([
      `out {${head("TRACE", "t")}}`,
      `out {${head("DEBUG", "d")}}`,
      `out {${head("INFO", "i")},"a":1,"b":{"c":[1,"x"]}}`,
      `err {${head("WARN", "w")},"extra":"extra text"}`,
      `err {${head("ERROR", "e")},"code":7,"extra":"two"}`,
      `err {${head("CRITICAL", "c")}}`,
      `out {${head("INFO", "as an object")},"k":2,"n":0,"f":false}`,
      `out {${head("INFO", "values")},"n":"10","d":"2020-01-01T00:00:00.000Z","list":[1,null,"s"]}`,
    ]);
  });

  it("drop fields named like the record's own keys, with a warning for each", () => {
    createLogger("nexus-test").info("reserved", {
      level: "X",
      service: "s",
      message: "m",
      timestamp: "t",
      sampling_rate: 1,
      ok: 1,
    });
    expect(lines()).toEqual([
      ...["level", "service", "message", "timestamp", "sampling_rate"].map(
        (key) => `err {${head("WARN", `The key \\"${key}\\" is a reserved key and will be dropped.`)}}`,
      ),
      `out {${head("INFO", "reserved")},"ok":1}`,
    ]);
  });

  it("carry errors as their own fields, then name, message, stack and cause, redacted", () => {
    const logger = createLogger("nexus-test");
    const cause = failure(new TypeError("root cause"), "at cause (/src/a.ts:1:2)");
    const outer = Object.assign(failure(new Error("outer", { cause }), "at outer (/src/b.ts:3:4)"), {
      code: "E_X",
      detail: { token: "abc" },
    });
    class NamedError extends Error {
      override name = "NamedError";
      extra = 5;
    }
    logger.error("failed", outer);
    logger.error("nested", {
      other: failure(new RangeError("r"), "at r"),
      list: [failure(new Error("in list"), "at l")],
    });
    logger.error("the last error wins", failure(new Error("a"), "at a"), failure(new Error("b"), "at b"));
    logger.error("named", failure(new NamedError("mine"), "at n"));
    logger.error("secret", failure(new Error("call with Bearer abcdefghijkl failed"), "at s"));
    const outerJson =
      '{"code":"E_X","detail":{"token":"[redacted]"},"name":"Error","message":"outer","stack":"Error: at outer (/src/b.ts:3:4)",' +
      '"cause":{"name":"TypeError","message":"root cause","stack":"TypeError: at cause (/src/a.ts:1:2)"}}';
    expect(lines()).toEqual([
      `err {${head("ERROR", "failed")},"error":${outerJson}}`,
      `err {${head("ERROR", "nested")},"other":{"name":"RangeError","message":"r","stack":"RangeError: at r"},"list":[{"name":"Error","message":"in list","stack":"Error: at l"}]}`,
      `err {${head("ERROR", "the last error wins")},"error":{"name":"Error","message":"b","stack":"Error: at b"}}`,
      `err {${head("ERROR", "named")},"error":{"name":"NamedError","extra":5,"message":"mine","stack":"NamedError: at n"}}`,
      `err {${head("ERROR", "secret")},"error":{"name":"Error","message":"call with Bearer [redacted] failed","stack":"Error: at s"}}`,
    ]);
  });

  it("are written at and above the logger's level; children keep its level and keys, and may have a service of their own", () => {
    const logger = createLogger("nexus-warn", { level: "WARN", keys: { k1: "v1" } });
    logger.debug("no");
    logger.info("no");
    logger.warn("yes");
    const child = logger.createChild({ serviceName: "nexus-child" });
    child.info("no");
    child.warn("child", { k2: 2 });
    logger.createChild().error("child2");
    createLogger("nexus-silent", { level: "SILENT" }).critical("never");
    createLogger("nexus-lower", { level: "debug" }).debug("lower case");
    expect(lines()).toEqual([
      `err {${head("WARN", "yes", "nexus-warn")},"k1":"v1"}`,
      `err {${head("WARN", "child", "nexus-child")},"k1":"v1","k2":2}`,
      `err {${head("ERROR", "child2", "nexus-warn")},"k1":"v1"}`,
      `out {${head("DEBUG", "lower case", "nexus-lower")}}`,
    ]);
  });

  it("take their level from AWS_LAMBDA_LOG_LEVEL above all, then the option, POWERTOOLS_LOG_LEVEL, LOG_LEVEL, else INFO", () => {
    createLogger("e0").debug("no");
    createLogger("e0").info("default info");
    process.env.POWERTOOLS_LOG_LEVEL = "DEBUG";
    process.env.LOG_LEVEL = "ERROR";
    createLogger("e1").debug("powertools level first");
    delete process.env.POWERTOOLS_LOG_LEVEL;
    createLogger("e2").warn("no");
    createLogger("e2").error("log level");
    process.env.LOG_LEVEL = "debug";
    createLogger("e3").debug("no: names in the environment are upper case");
    process.env.LOG_LEVEL = " DEBUG ";
    createLogger("e3").debug("trimmed");
    delete process.env.LOG_LEVEL;
    process.env.AWS_LAMBDA_LOG_LEVEL = "ERROR";
    const lambdaError = createLogger("e4", { level: "DEBUG" });
    lambdaError.warn("no");
    lambdaError.error("lambda's level above the option");
    process.env.AWS_LAMBDA_LOG_LEVEL = "WARN";
    const lambdaWarn = createLogger("e5", { level: "DEBUG" });
    lambdaWarn.createChild().info("no");
    process.env.AWS_LAMBDA_LOG_LEVEL = "FATAL";
    createLogger("e6").error("no");
    createLogger("e6").critical("fatal is critical");
    expect(lines()).toEqual([
      `out {${head("INFO", "default info", "e0")}}`,
      `out {${head("DEBUG", "powertools level first", "e1")}}`,
      `err {${head("ERROR", "log level", "e2")}}`,
      `out {${head("DEBUG", "trimmed", "e3")}}`,
      `err {${head("ERROR", "lambda's level above the option", "e4")}}`,
      `err {${head("WARN", "Current log level (DEBUG) does not match AWS Lambda Advanced Logging Controls minimum log level (WARN). This can lead to data loss, consider adjusting them.", "e5")}}`,
      `err {${head("CRITICAL", "fatal is critical", "e6")}}`,
    ]);
  });

  it("carry the invocation after addContext (children too), the trace id, then the log context's ids", () => {
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = "on-demand";
    process.env._X_AMZN_TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const invocation = (awsRequestId: string) =>
      ({ functionName: "fn", awsRequestId, getRemainingTimeInMillis: () => 1000 }) as unknown as LambdaContext;
    const logger = createLogger("nexus-fn");
    logger.info("before");
    logger.addContext(invocation("req-9"));
    logger.info("first");
    logger.createChild().info("child in the first invocation");
    logger.addContext(invocation("req-10"));
    logger.info("second");
    logger.createChild({ serviceName: "svc2" }).info("child in the second");
    withLogContext({ taskId: "t1", requestId: "r1" }, () => logger.info("ids", { taskId: "mine", extra1: 1 }));
    process.env._X_AMZN_TRACE_ID = "plainid";
    delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
    const provisioned = createLogger("nexus-pc");
    provisioned.addContext(invocation("req-9"));
    provisioned.info("provisioned");
    const trace = `"xray_trace_id":"1-5759e988-bd862e3fe1be46a994272793"`;
    const fn = (coldStart: boolean, id: string) =>
      `"cold_start":${coldStart},"function_name":"fn","function_request_id":"${id}"`;
    expect(lines()).toEqual([
      `out {${head("INFO", "before", "nexus-fn")},${trace}}`,
      `out {${head("INFO", "first", "nexus-fn")},${fn(true, "req-9")},${trace}}`,
      `out {${head("INFO", "child in the first invocation", "nexus-fn")},${fn(true, "req-9")},${trace}}`,
      `out {${head("INFO", "second", "nexus-fn")},${fn(false, "req-10")},${trace}}`,
      // Powertools made each child a cold start of its own (true here); a child has its invocation's.
      `out {${head("INFO", "child in the second", "svc2")},${fn(false, "req-10")},${trace}}`,
      `out {${head("INFO", "ids", "nexus-fn")},${fn(false, "req-10")},${trace},"taskId":"mine","requestId":"r1","extra1":1}`,
      `out {${head("INFO", "provisioned", "nexus-pc")},${fn(false, "req-9")},"xray_trace_id":"plainid"}`,
    ]);
  });

  it("are redacted, and handed to the log context's tees as written (empty fields still there)", () => {
    const seen: LogRecord[] = [];
    rememberSecret("remembered-secret-value");
    const logger = createLogger("nexus-r", { keys: { persistent: "p", password: "pp" } });
    const context = { requestId: "req", planId: undefined, attempt: 1 };
    withLogContext(
      context,
      () => {
        logger.info("auth Bearer abcdefghijkl and nxk_abcdefghjkmn_SECRETSECRETSECRET", {
          headers: { Authorization: "x", "x-api-key": "y", ok: "z" },
          url: "https://u:pw@host/x",
          z: null,
          e: "",
          remembered: "a remembered-secret-value b",
        });
        logger.debug("below the level: neither written nor teed");
      },
      { tee: (record) => seen.push(record) },
    );
    const fields =
      '"requestId":"req","attempt":1,"persistent":"p","password":"[redacted]",' +
      '"headers":{"Authorization":"[redacted]","x-api-key":"[redacted]","ok":"z"},"url":"https://u:[redacted]@host/x"';
    const message = "auth Bearer [redacted] and nxk_abcdefghjkmn_[redacted]";
    expect(lines()).toEqual([`out {${head("INFO", message, "nexus-r")},${fields},"remembered":"a [redacted] b"}`]);
    expect(JSON.stringify(seen)).toBe(
      `[{${head("INFO", message, "nexus-r")},${fields},"z":null,"e":"","remembered":"a [redacted] b"}]`,
    );
  });

  it("are stamped in UTC, or with the offset of the time zone TZ names", () => {
    process.env.TZ = ":UTC";
    createLogger("tz").info("utc");
    process.env.TZ = "Asia/Kolkata";
    createLogger("tz").info("kolkata");
    const zoned = JSON.parse(lines()[1]?.slice(4) ?? "{}").timestamp;
    expect(lines()[0]).toBe(`out {${head("INFO", "utc", "tz")}}`);
    // Powertools' format: the zone's wall clock, then the offset of the process's own zone.
    expect(zoned).toMatch(/^2026-03-04T10:36:07\.089[+-]\d\d:\d\d$/);
  });

  it("cut cycles instead of failing", () => {
    const looped: Record<string, unknown> = { name: "a" };
    looped.self = looped;
    createLogger("cyc").info("cycle", { looped });
    let expected = '{"name":"a"}';
    for (let depth = 0; depth < 20; depth++) expected = `{"name":"a","self":${expected}}`;
    expect(lines()).toEqual([`out {${head("INFO", "cycle", "cyc")},"looped":${expected}}`]);
  });
});
