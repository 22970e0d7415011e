import { tmpdir } from "node:os";
import {
  type ActionContext,
  type AgentEnvironment,
  type AgentImplementation,
  parseParams,
  type Secrets,
} from "@nexus/core";
import * as Health from "@nexus/core/health";
import { artifactStoreFromConfig } from "./artifacts.js";
import type { BrowserConfig } from "./browser.js";
import { capBytes, extractHtml, LIMITS } from "./extract.js";
import { decodeBody, safeFetch } from "./http.js";
import { LookupRegistry, lookup } from "./lookup.js";
import { DEFAULT_FETCH_BYTES, FetchPageParams, LookupParams, RenderPageParams, researchSpec } from "./spec.js";
import { parseAllowList, type Resolver, type SsrfPolicy, systemResolver } from "./ssrf.js";

/** Time cap of one fetch_page (all hops), inside the action's timeout. */
export const FETCH_TIMEOUT_MS = 30_000;

export interface ResearchOptions {
  /**
   * How host names are resolved for the SSRF guard (default: the system resolver). Tests give names
   * addresses with it; whatever it answers is checked and then connected to.
   */
  resolve?: Resolver;
}

const HTML = /^(text\/html|application\/xhtml\+xml)\b/i;

/** Headless Chromium (puppeteer-core, @sparticuz/chromium), loaded with the first render or health check. */
const browserModule = () => import("./browser.js");

/** The agent's settings, read once per process. */
function settings(config: AgentEnvironment["config"], options: ResearchOptions) {
  let allow: SsrfPolicy["allow"];
  try {
    allow = parseAllowList(config.NEXUS_SSRF_ALLOW);
  } catch (error) {
    throw new Error(`research agent: ${(error as Error).message}`);
  }
  return {
    policy: { allow, resolve: options.resolve ?? systemResolver } satisfies SsrfPolicy,
    store: artifactStoreFromConfig(config),
    browser: {
      ...(config.NEXUS_CHROMIUM_PATH ? { executablePath: config.NEXUS_CHROMIUM_PATH } : {}),
      ...(config.NEXUS_CHROMIUM_BIN_DIR ? { binDir: config.NEXUS_CHROMIUM_BIN_DIR } : {}),
      tmpDir: config.NEXUS_RESEARCH_TMPDIR || tmpdir(),
    },
    lookupSecret: config.NEXUS_LOOKUP_SECRET,
  };
}

async function fetchPage(params: FetchPageParams, policy: SsrfPolicy, { signal }: ActionContext) {
  const response = await safeFetch(params.url, {
    policy,
    signal: AbortSignal.any([signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]),
    maxBytes: params.maxBytes ?? DEFAULT_FETCH_BYTES,
  });
  const contentType = response.contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  const body = decodeBody(response.body, response.contentType);
  const common = {
    url: params.url,
    finalUrl: response.finalUrl,
    status: response.status,
    contentType: contentType || null,
    bytes: response.body.length,
    redirects: response.redirects,
  };
  if (HTML.test(contentType) || (!contentType && /^\s*<(!doctype html|html)/i.test(body))) {
    const page = await extractHtml(body, response.finalUrl);
    return { ...common, ...page, truncated: { ...page.truncated, body: response.truncated } };
  }
  const text = capBytes(body, LIMITS.textBytes);
  return {
    ...common,
    title: null,
    byline: null,
    excerpt: null,
    text: text.text,
    links: [],
    truncated: { text: text.truncated, links: false, body: response.truncated },
  };
}

/** The `health` action's checks: Chromium starts and stops; the lookup providers' secret is readable and valid. */
function healthChecks(browser: BrowserConfig, secrets: Secrets, lookupSecret: string | undefined) {
  return async (signal: AbortSignal) => [
    await Health.check("chromium", async () => {
      try {
        const { probeBrowser } = await browserModule();
        return `started and closed (${await probeBrowser(browser, signal)})`;
      } catch (error) {
        throw new Error(`Chromium did not start: ${error instanceof Error ? error.message : String(error)}`);
      }
    }),
    await Health.check("lookup_secret", async () => {
      if (!lookupSecret) throw new Error("NEXUS_LOOKUP_SECRET is not set: lookup has no providers");
      const text = await secrets.get(lookupSecret).catch(() => {
        throw new Error(`the lookup secret '${lookupSecret}' could not be read`);
      });
      if (text === undefined) throw new Error(`the lookup secret '${lookupSecret}' does not exist`);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new Error(`the lookup secret '${lookupSecret}' is not JSON`);
      }
      const parsed = LookupRegistry.safeParse(json);
      if (!parsed.success) {
        // the issue's path names a provider and a field, never a value
        const where = (parsed.error.issues[0]?.path ?? []).map(String).join(".");
        throw new Error(`the lookup secret '${lookupSecret}' is invalid at '${where}'`);
      }
      const providers = Object.keys(parsed.data).length;
      return `readable and valid (${providers} provider${providers === 1 ? "" : "s"})`;
    }),
  ];
}

/** Builds the research agent; `research` is the one with the defaults. */
export function createResearchAgent(options: ResearchOptions = {}): AgentImplementation {
  return {
    spec: researchSpec,
    handlers: (env) => {
      const { policy, store, browser, lookupSecret } = settings(env.config, options);
      return {
        fetch_page: (params, context) => fetchPage(parseParams(FetchPageParams, params), policy, context),
        render_page: async (params, context) => {
          const parsed = parseParams(RenderPageParams, params);
          const { renderPage } = await browserModule();
          return renderPage(parsed, {
            policy,
            browser,
            signal: context.signal,
            ...(store ? { store } : {}),
            artifactKey: context.taskId.replace(/[^\w-]/g, "_"),
          });
        },
        lookup: async (params, { signal }) => {
          const parsed = parseParams(LookupParams, params);
          return lookup(parsed, { secrets: env.ctx.secrets, secretName: lookupSecret, policy, signal });
        },
        health: Health.healthAction(env, researchSpec.id, healthChecks(browser, env.ctx.secrets, lookupSecret)),
      };
    },
  };
}

/** `research`: fetch_page, render_page and lookup, behind the SSRF guard. */
export const research: AgentImplementation = createResearchAgent();
