import type { AgentSpec, ParamsSchema } from "@nexus/core";
import * as Health from "@nexus/core/health";
import { pure } from "@nexus/core/pure";
import * as z from "zod";
import { builtinSpec, paramsSchemaOf } from "../schema.js";

export const MAX_URL_CHARS = 2048;
export const DEFAULT_FETCH_BYTES = 2 * 1024 * 1024;
export const MAX_FETCH_BYTES = 10 * 1024 * 1024;
export const MAX_WAIT_MS = 30_000;
export const DEFAULT_RENDER_TIMEOUT_MS = 30_000;
export const MAX_RENDER_TIMEOUT_MS = 60_000;

/**
 * http(s) URLs only, checked at the API already (a `file:` or `gopher:` URL is a 400 there); the SSRF guard
 * checks again, with DNS, in the agent. Written without the `i` flag: the pattern is a JSON-schema pattern.
 */
const HttpUrl = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(8)
    .max(MAX_URL_CHARS)
    .regex(/^[hH][tT][tT][pP][sS]?:\/\/[^\s]+$/, "must be an http:// or https:// URL")
    .describe("An absolute http:// or https:// URL"),
);

export const FetchPageParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    url: HttpUrl,
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .max(MAX_FETCH_BYTES)
      .optional()
      .describe(`Cap on the response body in bytes (default ${DEFAULT_FETCH_BYTES}); longer bodies are truncated`),
  }),
);
export type FetchPageParams = z.output<typeof FetchPageParams>;

const CssSelector = /* @__PURE__ */ pure(() => z.string().min(1).max(500));
const WaitMs = /* @__PURE__ */ pure(() => z.number().int().min(0).max(MAX_WAIT_MS));

export const RenderPageParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    url: HttpUrl,
    waitFor: z
      .union([CssSelector, WaitMs])
      .optional()
      .describe(`A CSS selector to wait for, or milliseconds to wait (at most ${MAX_WAIT_MS}) after the page loaded`),
    screenshot: z.boolean().optional().describe("Store a PNG screenshot and return a link to it"),
    timeoutMs: z
      .number()
      .int()
      .min(1000)
      .max(MAX_RENDER_TIMEOUT_MS)
      .optional()
      .describe(`Time for loading and waiting (default ${DEFAULT_RENDER_TIMEOUT_MS})`),
  }),
);
export type RenderPageParams = z.output<typeof RenderPageParams>;

export const ProviderName = /* @__PURE__ */ pure(() =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9][a-z0-9_-]*$/, "must be a provider name: lower-case letters, digits, - and _"),
);

export const LookupParams = /* @__PURE__ */ pure(() =>
  z.strictObject({
    provider: ProviderName.describe("A provider configured in the lookup secret (e.g. weather)"),
    query: z.string().min(1).max(500).describe("What to look up; URL-encoded into the provider's URL"),
  }),
);
export type LookupParams = z.output<typeof LookupParams>;

/**
 * render_page's params schema. `waitFor` is a selector or a number: the params language has no `anyOf`,
 * so it carries no type there, and the agent checks it (a wrong one fails the task as `invalid_params`).
 */
function renderPageSchema(): ParamsSchema {
  const { waitFor: _, ...rest } = RenderPageParams.shape;
  const schema = paramsSchemaOf(z.strictObject(rest));
  return {
    ...schema,
    properties: {
      ...schema.properties,
      waitFor: { description: RenderPageParams.shape.waitFor.description ?? "" },
    },
  };
}

/** `research`: reads the web for the other agents, behind an SSRF guard. */
export const researchSpec: AgentSpec = builtinSpec(
  {
    id: "research",
    kind: "research",
    description: "Fetches and renders web pages (readable text, links, screenshots) and queries configured JSON APIs",
  },
  () => [
    {
      name: "fetch_page",
      description:
        "HTTP GET (redirects followed, each hop checked by the SSRF guard) and readable-text extraction: " +
        "title, byline, excerpt, text, links. Non-HTML bodies are returned as text.",
      params: paramsSchemaOf(FetchPageParams),
      retry: { maxAttempts: 3, backoffSeconds: 2, maxBackoffSeconds: 60 },
      timeoutSeconds: 45,
    },
    {
      name: "render_page",
      description:
        "Loads a page in headless Chromium (for JavaScript-built pages): text, links and an optional stored " +
        "screenshot. Every request the page makes passes the SSRF guard.",
      params: renderPageSchema(),
      retry: { maxAttempts: 2, backoffSeconds: 5, maxBackoffSeconds: 60 },
      timeoutSeconds: 90,
    },
    {
      name: "lookup",
      description: "Queries a configured public JSON API (provider registry in Secrets Manager)",
      params: paramsSchemaOf(LookupParams),
      retry: { maxAttempts: 3, backoffSeconds: 2, maxBackoffSeconds: 60 },
      timeoutSeconds: 30,
    },
    Health.actionSpec(
      60,
      "Checks that Chromium starts (launched and closed, no page) and the lookup secret is readable",
    ),
  ],
);
