import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ActionError, NonRetriableError } from "@nexus/core";
import { pure } from "@nexus/core/pure";
import chromium from "@sparticuz/chromium";
import puppeteer, { type Browser, type HTTPRequest, type LaunchOptions, type Page } from "puppeteer-core";
import * as z from "zod";
import type { ArtifactStore, StoredArtifact } from "./artifacts.js";
import { capBytes, collectLinks, LIMITS, type Link, tidyText } from "./extract.js";
import { startGuardedProxy } from "./proxy.js";
import type { RenderPageParams } from "./spec.js";
import { checkTarget, pinnedPolicy, SsrfBlockedError, type SsrfPolicy } from "./ssrf.js";

/**
 * render_page: one headless Chromium per task, started for it and gone after it (process ended, profile
 * directory removed), whatever happens: success, failure, timeout or abort. Chromium reaches the network only
 * through the task's guarded proxy, and every request is intercepted and checked before it leaves the page.
 */

/** Flags for this closed network and for a browser that should talk to nobody but the page. */
export const BROWSER_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  "--disable-extensions",
  "--disable-domain-reliability",
  "--disable-dev-shm-usage",
  "--no-pings",
  "--mute-audio",
  "--hide-scrollbars",
  // no WebRTC traffic outside the proxy (it would bypass the guard over UDP)
  "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
  "--webrtc-ip-handling-policy=disable_non_proxied_udp",
];

/** @sparticuz/chromium's flags that weaken the page sandbox; a browser that renders hostile pages drops them. */
const REFUSED_FLAGS = ["--disable-web-security", "--allow-running-insecure-content", "--disable-site-isolation-trials"];

const USER_DATA_PREFIX = "nexus-chromium-";
const LAUNCH_TIMEOUT_MS = 20_000;
const CLOSE_GRACE_MS = 3_000;
const MAX_BLOCKED_SHOWN = 20;

export interface BrowserConfig {
  /** A system Chromium (`NEXUS_CHROMIUM_PATH`); otherwise @sparticuz/chromium's binary, unpacked to /tmp. */
  executablePath?: string;
  /**
   * Where @sparticuz/chromium's compressed binaries are (`NEXUS_CHROMIUM_BIN_DIR`): in Lambda, the layer the
   * stack builds from the package's `bin/` (mounted at /opt); unset, the package's own `bin/`.
   */
  binDir?: string;
  /** Where per-task profile directories are made (`NEXUS_RESEARCH_TMPDIR`, default the OS temp directory). */
  tmpDir: string;
}

export interface RenderOptions {
  policy: SsrfPolicy;
  browser: BrowserConfig;
  signal: AbortSignal;
  store?: ArtifactStore;
  /** Names the screenshot: `screenshots/<artifactKey>.png`. */
  artifactKey: string;
}

export interface RenderResult {
  url: string;
  finalUrl: string;
  status: number | null;
  title: string | null;
  text: string;
  links: Link[];
  truncated: { text: boolean; links: boolean };
  /** Requests of the page the SSRF guard refused (the first few). */
  blocked: Array<{ url: string; reason: string }>;
  screenshot?: StoredArtifact;
}

const PageContent = /* @__PURE__ */ pure(() =>
  z.object({
    title: z.string(),
    text: z.string(),
    links: z.array(z.object({ href: z.string(), text: z.string() })),
  }),
);

/** Runs in the page (a string: this package compiles without the DOM's types). */
const READ_PAGE = `(() => ({
  title: document.title || "",
  text: document.body ? String(document.body.innerText || "").slice(0, 400000) : "",
  links: Array.from(document.querySelectorAll("a[href]")).slice(0, 2000).map((a) => ({
    href: String(a.href || ""),
    text: String(a.innerText || a.textContent || "").slice(0, 500),
  })),
}))()`;

/** Rejects when `signal` aborts; the work goes on, and the caller's finally cleans up after it. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function abortError(signal: AbortSignal): ActionError {
  const reason = signal.reason as { name?: string } | undefined;
  return reason?.name === "TimeoutError"
    ? new ActionError("render_timeout", "the page did not finish loading in time")
    : new ActionError("aborted", "rendering was aborted");
}

async function launchOptions(config: BrowserConfig, userDataDir: string, proxyUrl: string): Promise<LaunchOptions> {
  const own = [
    ...BROWSER_FLAGS,
    `--proxy-server=${proxyUrl}`,
    // Chromium sends loopback traffic around a proxy unless told not to
    "--proxy-bypass-list=<-loopback>",
  ];
  const common = {
    userDataDir,
    pipe: true,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    timeout: LAUNCH_TIMEOUT_MS,
    protocolTimeout: 60_000,
    defaultViewport: { width: 1280, height: 800 },
    acceptInsecureCerts: false,
  };
  if (config.executablePath) return { ...common, executablePath: config.executablePath, headless: true, args: own };
  const args = chromium.args.filter((flag) => !REFUSED_FLAGS.includes(flag) && !flag.startsWith("--headless"));
  return {
    ...common,
    executablePath: await sparticuzExecutable(config.binDir),
    headless: "shell",
    args: [...args, ...own],
  };
}

let unpacked: Promise<string> | undefined;

/** @sparticuz/chromium's binary, unpacked to /tmp once per process (concurrent first tasks share the unpacking). */
function sparticuzExecutable(binDir?: string): Promise<string> {
  if (!unpacked) {
    // no WebGL: the swiftshader libraries are not unpacked, and pages get no GPU surface to probe
    chromium.setGraphicsMode = false;
    unpacked = chromium.executablePath(binDir).catch((error: unknown) => {
      unpacked = undefined;
      throw new ActionError("browser_unavailable", `Chromium could not be unpacked: ${String(error).slice(0, 300)}`);
    });
  }
  return unpacked;
}

/** Closes the browser, kills its process if closing hangs, and waits for the process to end. */
async function shutDown(browser: Browser) {
  const child = browser.process();
  await Promise.race([browser.close().catch(() => undefined), sleep(CLOSE_GRACE_MS)]);
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await Promise.race([exited, sleep(CLOSE_GRACE_MS)]);
  }
}

async function removeDir(dir: string) {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await rm(dir, { recursive: true, force: true });
      return;
    } catch {
      await sleep(100);
    }
  }
}

async function waitFor(page: Page, waitFor: RenderPageParams["waitFor"], timeoutMs: number, signal: AbortSignal) {
  if (waitFor === undefined) return;
  if (typeof waitFor === "number") {
    await sleep(waitFor, undefined, { signal }).catch(() => undefined);
    return;
  }
  try {
    await page.waitForSelector(waitFor, { timeout: Math.max(1, timeoutMs), signal });
  } catch (error) {
    if (signal.aborted) throw abortError(signal);
    const message = error instanceof Error ? error.message : String(error);
    if (/is not a valid selector|SyntaxError/i.test(message)) {
      throw new NonRetriableError("invalid_params", `params.waitFor is not a valid CSS selector`);
    }
    throw new ActionError("render_timeout", `'${waitFor.slice(0, 100)}' did not appear within ${timeoutMs} ms`);
  }
}

/** Checks every request a page makes before it leaves; records what it refused. */
function guardRequests(page: Page, policy: SsrfPolicy, signal: AbortSignal, blocked: RenderResult["blocked"]) {
  const mainFrame = page.mainFrame();
  const navigationBlocks: string[] = [];
  page.on("request", (request: HTTPRequest) => {
    if (request.isInterceptResolutionHandled()) return;
    const url = request.url();
    if (/^(data|blob|about):/i.test(url)) {
      request.continue().catch(() => undefined);
      return;
    }
    checkTarget(url, policy, signal).then(
      () => request.continue().catch(() => undefined),
      (error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        if (blocked.length < MAX_BLOCKED_SHOWN) blocked.push({ url: url.slice(0, 300), reason });
        if (request.isNavigationRequest() && request.frame() === mainFrame) navigationBlocks.push(reason);
        request.abort("blockedbyclient").catch(() => undefined);
      },
    );
  });
  return navigationBlocks;
}

export async function renderPage(params: RenderPageParams, options: RenderOptions): Promise<RenderResult> {
  const timeoutMs = params.timeoutMs ?? 30_000;
  if (params.screenshot && !options.store) {
    throw new NonRetriableError(
      "artifacts_unconfigured",
      "screenshots need an artifact store: NEXUS_ARTIFACTS_BUCKET, or NEXUS_ARTIFACTS_DIR and NEXUS_ARTIFACTS_URL",
    );
  }
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs + LAUNCH_TIMEOUT_MS)]);
  // one DNS answer per name for the whole task: the first check, the interceptor and the proxy agree
  const policy = pinnedPolicy(options.policy);
  // refused before a browser starts
  await checkTarget(params.url, policy, signal);

  const blocked: RenderResult["blocked"] = [];
  const record = (url: string, reason: string) => {
    if (blocked.length < MAX_BLOCKED_SHOWN && !blocked.some((b) => b.url === url)) blocked.push({ url, reason });
  };
  const proxy = await startGuardedProxy({ policy, signal, onBlocked: record });
  let userDataDir: string | undefined;
  let launching: Promise<Browser> | undefined;
  try {
    userDataDir = await mkdtemp(join(options.browser.tmpDir, USER_DATA_PREFIX));
    const launch = await abortable(launchOptions(options.browser, userDataDir, proxy.url), signal);
    launching = puppeteer.launch(launch);
    const browser = await abortable(launching, signal).catch((error: unknown) => {
      if (error instanceof ActionError) throw error;
      throw new ActionError("browser_unavailable", `Chromium did not start: ${String(error).slice(0, 300)}`);
    });
    const page = (await abortable(browser.pages(), signal))[0] ?? (await abortable(browser.newPage(), signal));
    // pop-ups are closed: only the page under control runs
    browser.on("targetcreated", (target) => {
      target
        .page()
        .then((opened) => (opened && opened !== page ? opened.close() : undefined))
        .catch(() => undefined);
    });
    await page.setBypassServiceWorker(true);
    await page.setRequestInterception(true);
    const navigationBlocks = guardRequests(page, policy, signal, blocked);

    const started = Date.now();
    let response: Awaited<ReturnType<Page["goto"]>>;
    try {
      response = await abortable(page.goto(params.url, { waitUntil: "load", timeout: timeoutMs, signal }), signal);
    } catch (error) {
      const refused = navigationBlocks[0];
      if (refused) throw new SsrfBlockedError(refused);
      if (error instanceof ActionError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      if (/timeout/i.test(message)) throw new ActionError("render_timeout", `loading took longer than ${timeoutMs} ms`);
      throw new ActionError("render_failed", `loading failed: ${message.slice(0, 300)}`);
    }
    if (navigationBlocks[0]) throw new SsrfBlockedError(navigationBlocks[0]);
    await waitFor(page, params.waitFor, timeoutMs - (Date.now() - started), signal);

    const content = PageContent.parse(await abortable(page.evaluate(READ_PAGE), signal));
    const text = capBytes(tidyText(content.text), LIMITS.textBytes);
    const { links, truncated: linksTruncated } = collectLinks(content.links, page.url());
    let screenshot: StoredArtifact | undefined;
    if (params.screenshot && options.store) {
      const png = await abortable(page.screenshot({ type: "png" }), signal);
      screenshot = await options.store.put(`screenshots/${options.artifactKey}.png`, png, "image/png");
    }
    return {
      url: params.url,
      finalUrl: page.url(),
      status: response?.status() ?? null,
      title: content.title.trim().slice(0, LIMITS.titleChars) || null,
      text: text.text,
      links,
      truncated: { text: text.truncated, links: linksTruncated },
      blocked,
      ...(screenshot ? { screenshot } : {}),
    };
  } finally {
    const browser = await launching?.catch(() => undefined);
    if (browser) await shutDown(browser);
    await proxy.stop();
    if (userDataDir) await removeDir(userDataDir);
  }
}

/**
 * The health check's browser: Chromium started as render_page starts it (same binary, flags and profile handling)
 * and closed again. No page is opened; its proxy is a closed loopback port, so it reaches nothing. Returns the
 * browser's version.
 */
export async function probeBrowser(config: BrowserConfig, signal: AbortSignal): Promise<string> {
  const limited = AbortSignal.any([signal, AbortSignal.timeout(LAUNCH_TIMEOUT_MS + CLOSE_GRACE_MS)]);
  let userDataDir: string | undefined;
  let launching: Promise<Browser> | undefined;
  try {
    userDataDir = await mkdtemp(join(config.tmpDir, USER_DATA_PREFIX));
    const launch = await abortable(launchOptions(config, userDataDir, "http://127.0.0.1:9"), limited);
    launching = puppeteer.launch(launch);
    const browser = await abortable(launching, limited);
    return await abortable(browser.version(), limited);
  } finally {
    const browser = await launching?.catch(() => undefined);
    if (browser) await shutDown(browser);
    if (userDataDir) await removeDir(userDataDir);
  }
}
