import type { Context } from "@nexus/core";
import * as Limits from "@nexus/core/limits";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "./support/client.js";
import { manualClock, startTestContext } from "./support/context.js";
import { useLocalNexus } from "./support/local.js";

const clock = manualClock(new Date("2026-03-01T12:00:00Z"));
let env: Awaited<ReturnType<typeof startTestContext>>;

beforeAll(async () => {
  env = await startTestContext({ now: clock.now });
});
afterAll(async () => {
  await env?.stop();
});

/** How many of `requests` calls made all at once (spread over the instances) the limit lets through. */
async function acceptedAtOnce(instances: Context[], requests: number, perMinute: number, keyId: string) {
  const outcomes = await Promise.all(
    Array.from({ length: requests }, (_, i) =>
      Limits.rateLimit(instances[i % instances.length] as Context, keyId, perMinute).then(
        () => true,
        (error: unknown) => {
          expect(error).toBeInstanceOf(Limits.RateLimitedError);
          return false;
        },
      ),
    ),
  );
  return outcomes.filter(Boolean).length;
}

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

  it("holds under concurrent requests: the limit exactly on one instance, a batch over at most on each more", async () => {
    expect(await acceptedAtOnce([{ ...env.ctx }], 200, 30, "burst-small")).toBe(30);
    const one = await acceptedAtOnce([{ ...env.ctx }], 1500, 600, "burst-large");
    expect(one).toBe(600);
    const instances = [{ ...env.ctx }, { ...env.ctx }, { ...env.ctx }];
    const three = await acceptedAtOnce(instances, 1500, 600, "burst-shared");
    expect(three).toBeGreaterThanOrEqual(600);
    expect(three).toBeLessThanOrEqual(600 + 3 * 12); // a batch is 600 / 50 = 12 requests
  });

  it("starts afresh in the next minute", async () => {
    const instance = { ...env.ctx };
    expect(await accepted([instance], 5, 3, "minute")).toBe(3);
    clock.advance(60_000);
    expect(await accepted([instance], 5, 3, "minute")).toBe(3);
  });
});

describe("per-key rate limit over HTTP", () => {
  const local = useLocalNexus({ agents: [], now: manualClock(new Date("2026-03-01T12:00:30Z")).now });

  it("lets a key's limit through and little more from 50 connections at once", async () => {
    const created = await local.api.post("/v1/keys", { name: "burst", role: "viewer", rateLimitPerMinute: 600 });
    expect(created.status).toBe(201);
    const burst = apiClient(local.nexus.url, created.body.key);
    const statuses: number[] = [];
    const connection = async () => {
      for (let i = 0; i < 30; i++) statuses.push((await burst.get("/v1/agents?limit=1")).status);
    };
    await Promise.all(Array.from({ length: 50 }, connection));
    expect(statuses.length).toBe(1500);
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    const through = statuses.filter((status) => status === 200).length;
    expect(through).toBeGreaterThanOrEqual(600);
    expect(through).toBeLessThanOrEqual(600 + 12); // one API instance: at most one batch (600 / 50) over
  });
});
