import { MAX_BODY_BYTES, MAX_RESULT_BODY_BYTES } from "@nexus/api";
import { describe, expect, it } from "vitest";
import { BodyGate } from "../packages/local/src/body-gate.js";

const MB = 1024 * 1024;
const post = (bytes: number | undefined, headers: Record<string, string> = {}) =>
  new Request("http://127.0.0.1/v1/tasks/t/complete", {
    method: "POST",
    headers: { ...(bytes === undefined ? {} : { "content-length": String(bytes) }), ...headers },
  });

/** A request served until `finish()` is called (before or after it started), recording when it started. */
function held(gate: BodyGate, request: Request, started: string[], name: string) {
  let finish = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const done = gate.run(request, () => {
    started.push(name);
    return finished;
  });
  return { done, finish };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("the local API's gate on large request bodies", () => {
  it("lets small bodies and GETs through at once, however many large ones are in flight", async () => {
    const gate = new BodyGate(10 * MB, MAX_RESULT_BODY_BYTES);
    const started: string[] = [];
    const big = [1, 2, 3].map((i) => held(gate, post(5 * MB), started, `big${i}`));
    await tick();
    expect(started).toEqual(["big1", "big2"]);
    expect(gate.queued).toBe(1);
    const small = held(gate, post(MAX_BODY_BYTES), started, "small");
    const get = held(gate, new Request("http://127.0.0.1/v1/tasks"), started, "get");
    await tick();
    expect(started).toEqual(["big1", "big2", "small", "get"]);
    small.finish();
    get.finish();
    for (const b of big) b.finish();
    await Promise.all([...big, small, get].map((r) => r.done));
  });

  it("serves large bodies first come, first served, within the budget, and releases on failure", async () => {
    const gate = new BodyGate(10 * MB, MAX_RESULT_BODY_BYTES);
    const started: string[] = [];
    const a = held(gate, post(6 * MB), started, "a");
    const failing = gate.run(post(4 * MB), async () => {
      started.push("failing");
      throw new Error("refused");
    });
    const b = held(gate, post(5 * MB), started, "b");
    const c = held(gate, post(1 * MB), started, "c");
    await expect(failing).rejects.toThrow("refused");
    await tick();
    // `failing` fit beside `a` and gave its share back; `b` does not fit beside `a`, and `c` waits behind `b`.
    expect(started).toEqual(["a", "failing"]);
    expect(gate.inFlight).toBe(6 * MB);
    a.finish();
    await a.done;
    await tick();
    expect(started).toEqual(["a", "failing", "b", "c"]);
    expect(gate.inFlight).toBe(6 * MB);
    b.finish();
    c.finish();
    await Promise.all([b.done, c.done]);
    expect(gate.inFlight).toBe(0);
    expect(gate.queued).toBe(0);
  });

  it("serves a body larger than the whole budget alone, and counts a chunked body as the largest the API takes", async () => {
    const gate = new BodyGate(4 * MB, MAX_RESULT_BODY_BYTES);
    const started: string[] = [];
    const huge = held(gate, post(5 * MB), started, "huge");
    const chunked = held(gate, post(undefined, { "transfer-encoding": "chunked" }), started, "chunked");
    await tick();
    expect(started).toEqual(["huge"]);
    huge.finish();
    await huge.done;
    await tick();
    expect(started).toEqual(["huge", "chunked"]);
    expect(gate.inFlight).toBe(MAX_RESULT_BODY_BYTES);
    chunked.finish();
    await chunked.done;
  });
});
