import { describe, expect, it } from "vitest";
import { AsyncSlot } from "./async-slot.js";

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe("AsyncSlot", () => {
  it("follows the async context: each slot keeps its value through awaits, nested runs and the other slots' runs", async () => {
    const a = new AsyncSlot<string>();
    const b = new AsyncSlot<number>();
    expect(a.getStore()).toBeUndefined();
    const seen: unknown[] = [];
    await a.run("outer", async () => {
      await tick();
      seen.push(a.getStore(), b.getStore());
      await b.run(1, async () => {
        await tick();
        seen.push(a.getStore(), b.getStore());
        await a.run("inner", async () => {
          await tick();
          seen.push(a.getStore(), b.getStore());
        });
        seen.push(a.getStore(), b.getStore());
      });
      seen.push(a.getStore(), b.getStore());
    });
    expect(seen).toEqual(["outer", undefined, "outer", 1, "inner", 1, "outer", 1, "outer", undefined]);
    expect(a.getStore()).toBeUndefined();
  });

  it("keeps concurrent runs apart", async () => {
    const slot = new AsyncSlot<number>();
    const read = (value: number) =>
      slot.run(value, async () => {
        await tick();
        await tick();
        return slot.getStore();
      });
    expect(await Promise.all([1, 2, 3].map(read))).toEqual([1, 2, 3]);
  });
});
