import { ActionError, NonRetriableError, type Secrets, scrub } from "@nexus/core";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { safeFetch } from "./http.js";
import { type LookupParams, ProviderName } from "./spec.js";
import type { SsrfPolicy } from "./ssrf.js";

/**
 * `lookup`: a small registry of public JSON APIs, kept in one Secrets Manager secret (named by
 * `NEXUS_LOOKUP_SECRET`) because provider entries carry API keys:
 *
 * ```json
 * { "weather": { "url": "https://api.example/v1/current?q={query}", "apiKey": "…",
 *                "apiKeyHeader": "X-Api-Key", "headers": { "Accept-Language": "en" }, "resultPath": "current" } }
 * ```
 *
 * `{query}` (and `{apiKey}`, for APIs that take the key in the URL) are URL-encoded into the URL. The key and
 * the headers go to the provider's origin only (dropped on a redirect elsewhere), and never appear in a result
 * or an error: the URL is not echoed, and messages are scrubbed of them.
 */
export const LookupProvider = /* @__PURE__ */ pure(() =>
  z.strictObject({
    url: z
      .string()
      .max(2048)
      .regex(/^https?:\/\//i, "must be an http(s) URL")
      .refine((url) => url.includes("{query}"), "must contain {query}"),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(4096)).optional(),
    apiKey: z.string().min(1).max(4096).optional(),
    apiKeyHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/)
      .optional(),
    resultPath: z
      .string()
      .max(200)
      .regex(/^[\w-]+(\.[\w-]+)*$/)
      .optional(),
  }),
);
export type LookupProvider = z.output<typeof LookupProvider>;
export const LookupRegistry = /* @__PURE__ */ pure(() => z.record(ProviderName, LookupProvider));

export const LOOKUP_MAX_BYTES = 1024 * 1024;
export const LOOKUP_MAX_RESULT_BYTES = 192 * 1024;
export const LOOKUP_TIMEOUT_MS = 15_000;

export interface LookupOptions {
  secrets: Secrets;
  secretName: string | undefined;
  policy: SsrfPolicy;
  signal: AbortSignal;
}

async function loadRegistry(secrets: Secrets, secretName: string | undefined) {
  if (!secretName) {
    throw new NonRetriableError("lookup_unconfigured", "no lookup providers are configured (NEXUS_LOOKUP_SECRET)");
  }
  const text = await secrets.get(secretName);
  if (text === undefined) {
    throw new NonRetriableError("lookup_unconfigured", `the lookup secret '${secretName}' does not exist`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new NonRetriableError("lookup_misconfigured", `the lookup secret '${secretName}' is not JSON`);
  }
  const parsed = LookupRegistry.safeParse(json);
  if (!parsed.success) {
    // the issue's path names a provider and a field, never a value
    const issue = parsed.error.issues[0];
    const where = (issue?.path ?? []).map(String).join(".");
    throw new NonRetriableError("lookup_misconfigured", `the lookup secret '${secretName}' is invalid at '${where}'`);
  }
  return parsed.data;
}

function atPath(value: unknown, path: string | undefined): unknown {
  if (!path) return value;
  let current = value;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object") return null;
    current = (current as Record<string, unknown>)[part];
    if (current === undefined) return null;
  }
  return current;
}

export async function lookup(params: LookupParams, options: LookupOptions) {
  const registry = await loadRegistry(options.secrets, options.secretName);
  const provider = Object.hasOwn(registry, params.provider) ? registry[params.provider] : undefined;
  if (!provider) {
    const known = Object.keys(registry).sort().join(", ") || "none";
    throw new NonRetriableError("unknown_provider", `no lookup provider '${params.provider}' (configured: ${known})`);
  }
  const secrets = [provider.apiKey ?? "", ...Object.values(provider.headers ?? {})].filter(Boolean);
  const url = provider.url
    .replaceAll("{query}", encodeURIComponent(params.query))
    .replaceAll("{apiKey}", encodeURIComponent(provider.apiKey ?? ""));
  const originHeaders: Record<string, string> = { ...provider.headers };
  if (provider.apiKey && !provider.url.includes("{apiKey}")) {
    originHeaders[(provider.apiKeyHeader ?? "X-Api-Key").toLowerCase()] = provider.apiKey;
  }
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(LOOKUP_TIMEOUT_MS)]);
  let response: Awaited<ReturnType<typeof safeFetch>>;
  try {
    response = await safeFetch(url, {
      policy: options.policy,
      signal,
      maxBytes: LOOKUP_MAX_BYTES,
      failOnOversize: true,
      headers: { accept: "application/json" },
      originHeaders,
    });
  } catch (error) {
    if (error instanceof ActionError) {
      const Kind = error.retriable ? ActionError : NonRetriableError;
      throw new Kind(error.code, `lookup '${params.provider}': ${scrub(error.message, secrets)}`);
    }
    throw new ActionError("lookup_failed", `lookup '${params.provider}' failed`);
  }
  const { status } = response;
  if (status === 408 || status === 429 || status >= 500) {
    throw new ActionError("lookup_upstream_error", `lookup '${params.provider}': the provider answered ${status}`);
  }
  if (status < 200 || status >= 300) {
    throw new NonRetriableError("lookup_rejected", `lookup '${params.provider}': the provider answered ${status}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(response.body.toString("utf8"));
  } catch {
    throw new NonRetriableError(
      "lookup_bad_response",
      `lookup '${params.provider}': the provider's answer is not JSON`,
    );
  }
  // a provider that echoes its key back does not get it into the task's result
  const serialized = scrub(JSON.stringify(atPath(data, provider.resultPath)) ?? "null", secrets);
  if (Buffer.byteLength(serialized) > LOOKUP_MAX_RESULT_BYTES) {
    throw new NonRetriableError(
      "lookup_result_too_large",
      `lookup '${params.provider}': the result is larger than ${LOOKUP_MAX_RESULT_BYTES} bytes (set resultPath)`,
    );
  }
  let result: unknown;
  try {
    result = JSON.parse(serialized);
  } catch {
    throw new NonRetriableError("lookup_bad_response", `lookup '${params.provider}': the answer cannot be scrubbed`);
  }
  return { provider: params.provider, query: params.query, status, result };
}
