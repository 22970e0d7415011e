import { describe, expect, it } from "vitest";
import { QuietCompactor } from "../packages/local/src/compactor.js";

/** A compactor over a heap and a clock the test moves; `gc` shrinks the heap to what is live. */
function setup(options: { growth?: number } = {}) {
  const state = { now: 0, heap: 100, live: 100, collections: 0 };
  const compactor = new QuietCompactor({
    quietMs: 5000,
    ...options,
    now: () => state.now,
    heapBytes: () => state.heap,
    gc: () => {
      state.collections++;
      state.heap = state.live;
    },
  });
  return { state, compactor };
}

describe("the local runtime's compaction once quiet", () => {
  it("collects once when nothing has moved for the quiet period and the heap grew, then not again", () => {
    const { state, compactor } = setup();
    state.heap = 150;
    state.now = 4999;
    expect(compactor.check()).toBe(false);
    state.now = 5000;
    expect(compactor.check()).toBe(true);
    expect(state.heap).toBe(100);
    state.now = 20_000;
    expect(compactor.check()).toBe(false);
    expect(state.collections).toBe(1);
    expect(compactor.compactions).toBe(1);
  });

  it("waits while requests or tasks move, whatever the heap", () => {
    const { state, compactor } = setup();
    state.heap = 300;
    for (let t = 1000; t <= 30_000; t += 1000) {
      state.now = t;
      compactor.observe({ name: t % 2000 === 0 ? "ApiRequests" : "TasksSucceeded" });
      expect(compactor.check()).toBe(false);
    }
    state.now = 34_999;
    expect(compactor.check()).toBe(false);
    state.now = 35_000;
    expect(compactor.check()).toBe(true);
  });

  it("ignores what is not work (the pollers' and alarms' own metrics), and a heap that did not grow enough", () => {
    const { state, compactor } = setup({ growth: 0.1 });
    state.now = 1000;
    compactor.observe({ name: "AgentsOnline" });
    state.heap = 110;
    state.now = 6000;
    expect(compactor.check()).toBe(false);
    state.heap = 111;
    expect(compactor.check()).toBe(true);
  });

  it("measures growth from the heap after its last collection: live data kept since is the new floor", () => {
    const { state, compactor } = setup();
    state.heap = 200;
    state.live = 180;
    state.now = 5000;
    expect(compactor.check()).toBe(true);
    state.heap = 195;
    state.now = 20_000;
    expect(compactor.check()).toBe(false);
    state.heap = 199;
    expect(compactor.check()).toBe(true);
  });

  it("does nothing without a collection to run (node without --expose-gc, as the tests' own)", () => {
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    const compactor = new QuietCompactor({ now: () => 60_000, heapBytes: () => 1e9 });
    expect(compactor.enabled).toBe(false);
    expect(compactor.check()).toBe(false);
  });
});
