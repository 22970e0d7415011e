import { type Context, Limits } from "@nexus/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { manualClock, startTestContext } from "./support/context.js";

const clock = manualClock(new Date("2026-03-01T12:00:00Z"));
let env: Awaited<ReturnType<typeof startTestContext>>;

beforeAll(async () => {
  env = await startTestContext({ now: clock.now });
});
afterAll(async () => {
  await env?.stop();
});

async function accepted(instances: Context[], requests: number, perMinute: number, keyId: string) {
  let ok = 0;
  for (let i = 0; i < requests; i++) {
    const instance = instances[i % instances.length] as Context;
    try {
      await Limits.rateLimit(instance, keyId, perMinute);
      ok++;
    } catch (error) {
      expect(error).toBeInstanceOf(Limits.RateLimitedError);
    }
  }
  return ok;
}

describe("per-key rate limit across API instances", () => {
  it("is exact for small limits", async () => {
    const instances = [{ ...env.ctx }, { ...env.ctx }, { ...env.ctx }];
    expect(await accepted(instances, 30, 10, "small")).toBe(10);
  });

  it("shares one count between instances, overshooting by at most a batch per instance", async () => {
    const instances = [{ ...env.ctx }, { ...env.ctx }];
    const ok = await accepted(instances, 2000, 1000, "large");
    expect(ok).toBeGreaterThanOrEqual(1000);
    expect(ok).toBeLessThanOrEqual(1000 + 2 * 20);
  });

  it("starts afresh in the next minute", async () => {
    const instance = { ...env.ctx };
    expect(await accepted([instance], 5, 3, "minute")).toBe(3);
    clock.advance(60_000);
    expect(await accepted([instance], 5, 3, "minute")).toBe(3);
  });
});
