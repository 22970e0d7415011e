import { type LocalNexus, type LocalOptions, startLocal } from "@nexus/local";
import { afterAll, beforeAll } from "vitest";
import { apiClient } from "./client.js";

/**
 * The whole local system for one test file: started before its tests (in memory, on a free port, quiet,
 * with the rate limit out of the way), stopped after them, and an HTTP client holding the admin key.
 */
export function useLocalNexus(options: LocalOptions = {}) {
  const state = {} as { nexus: LocalNexus; api: ReturnType<typeof apiClient> };
  beforeAll(async () => {
    state.nexus = await startLocal({
      port: 0,
      logLevel: "SILENT",
      // Tests that read a DLQ directly must not race the inbox's ingestion; inbox tests ingest explicitly.
      failureIngestIntervalMs: 600_000,
      ...options,
      settings: { rateLimitPerMinute: 1_000_000, ...options.settings },
    });
    state.api = apiClient(state.nexus.url, state.nexus.adminKey);
  });
  afterAll(async () => {
    await state.nexus?.stop();
  });
  return state;
}
