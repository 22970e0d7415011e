import { describe, expect, it } from "vitest";
import { clientOf, once, withSdk } from "./lazy.js";

describe("loading on first use", () => {
  it("loads once for every caller, and again after a failure", async () => {
    // Prepare: a load that fails the first time.
    let calls = 0;
    const load = once(async () => {
      calls += 1;
      if (calls === 1) throw new Error("not yet");
      return { loaded: calls };
    });

    // Act & Assess: the failure reaches its callers and is not kept; the success is shared.
    await expect(Promise.all([load(), load()])).rejects.toThrow("not yet");
    expect(calls).toBe(1);
    const [first, second] = await Promise.all([load(), load()]);
    expect(first).toEqual({ loaded: 2 });
    expect(second).toBe(first);
    expect(calls).toBe(2);
  });

  it("makes nothing before the first call, and uses a given client as it is", async () => {
    // Prepare
    const given = { send: () => "given" };
    let made = 0;
    const factory = async () => {
      made += 1;
      return { send: () => "made" };
    };

    // Act
    const fromFactory = clientOf(factory);
    const fromGiven = withSdk(async () => ({ Command: "sdk" }), given);

    // Assess
    expect(made).toBe(0);
    expect((await fromFactory()).send()).toBe("made");
    expect(await fromFactory()).toBe(await fromFactory());
    expect(made).toBe(1);
    const [sdk, client] = await fromGiven();
    expect(sdk).toEqual({ Command: "sdk" });
    expect(client).toBe(given);
  });
});
