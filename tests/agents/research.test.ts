import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "@nexus/core";
import { type LocalNexus, startLocal } from "@nexus/local";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createResearchAgent } from "../../packages/agents/src/research/handlers.js";
import { startGuardedProxy } from "../../packages/agents/src/research/proxy.js";
import { parseAllowList, type Resolver, systemResolver } from "../../packages/agents/src/research/ssrf.js";
import { LOOKUP_SECRET_NAME, researchStandIn } from "../../packages/local/src/standins/research.js";
import { apiClient, type Json } from "../support/client.js";

/**
 * The research agent end to end: API → queue → agent → result, against pages served here on 127.0.0.1 and
 * the research stand-in. The agent's allow-list holds exactly two origins: this file's page server
 * (127.0.0.1:PAGES) and the stand-in. Two canary servers listen where an SSRF would land (127.0.0.1 on
 * another port, and 127.0.0.2 on the page server's port) and count every TCP connection they get: the
 * attack corpora must leave them at zero. Private and metadata addresses (10/8, 169.254.169.254…) are only
 * ever named, never reached: the guard refuses them before a socket is opened, and that is what is tested.
 */

const fixture = (name: string) => readFileSync(join(import.meta.dirname, "fixtures", "research", name), "utf8");

interface Listening {
  server: Server;
  port: number;
  close(): Promise<void>;
}

async function listen(host: string, port: number, handler: http.RequestListener): Promise<Listening> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A server that must never be reached: it counts connections (not only requests) and answers nothing useful. */
async function canary(host: string, port: number) {
  const hits: string[] = [];
  const listening = await listen(host, port, (req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.end("canary");
  });
  let connections = 0;
  listening.server.on("connection", () => connections++);
  listening.server.on("upgrade", (req: IncomingMessage, socket) => {
    hits.push(`UPGRADE ${req.url}`);
    socket.destroy();
  });
  return { ...listening, hits, connections: () => connections };
}

let pages: Listening;
let canaryA: Awaited<ReturnType<typeof canary>>;
let canaryB: Awaited<ReturnType<typeof canary>>;
const pageHits: string[] = [];
let P: number;
let C: number;
let PAGES: string;
let CANARY_A: string;
const API_KEY_ECHO = "echo-secret-9f8e7d6c5b4a";
let browserTmp: string;

let nexus: LocalNexus;
let api: ReturnType<typeof apiClient>;

const resolveCalls = new Map<string, number>();
/** Test names: each is answered here; nothing else resolves (no query leaves this machine). */
const testResolver: Resolver = async (hostname, signal) => {
  const n = (resolveCalls.get(hostname) ?? 0) + 1;
  resolveCalls.set(hostname, n);
  if (hostname.startsWith("rebind-")) return n === 1 ? ["127.0.0.1"] : ["127.0.0.2"];
  const table: Record<string, string[]> = {
    "pages.test": ["127.0.0.1"],
    "canary.test": ["127.0.0.2"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "private.test": ["10.0.0.1"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["127.0.0.1", "127.0.0.2"],
    "mapped.test": ["::ffff:127.0.0.2"],
  };
  const answer = table[hostname];
  if (answer) return answer;
  if (hostname === "localhost") return systemResolver(hostname, signal);
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
};

function pageHandler(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? "/", "http://pages");
  pageHits.push(url.pathname);
  const html = (body: string) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(body);
  switch (url.pathname) {
    case "/article.html":
      return html(fixture("article.html"));
    case "/app.html":
      return html(fixture("app.html"));
    case "/attack.html":
      return html(
        fixture("attack.html")
          .replaceAll("{{CANARY_A}}", CANARY_A)
          .replaceAll("{{CANARY_B}}", `http://127.0.0.2:${P}`)
          .replaceAll("{{CANARY_A_WS}}", `ws://127.0.0.1:${C}`)
          .replaceAll("{{PAGE_PORT}}", String(P)),
      );
    case "/navigate-away.html":
      return html(`<title>away</title><script>location.href = "${CANARY_A}/navigated";</script>`);
    case "/data.json":
      return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ tide: "high", m: 3.1 }));
    case "/redirect":
      return res.writeHead(302, { location: url.searchParams.get("to") ?? "/" }).end();
    case "/loop":
      return res.writeHead(302, { location: "/loop" }).end();
    case "/echo-key":
      return res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ youSent: req.headers["x-api-key"] ?? null, q: url.searchParams.get("q") }));
    case "/slow":
      return; // never answers: the connection stays open until the client gives up
    default:
      return res.writeHead(404).end("not found");
  }
}

const submit = (action: string, params: unknown) => api.post("/v1/tasks", { agentId: "research", action, params });

async function run(action: string, params: unknown): Promise<Json> {
  const submitted = await submit(action, params);
  expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
  return api.waitForTask(submitted.body.id, undefined, 60_000);
}

/** Chromium processes whose command line names `dir` (their profile lives there); zombies do not count. */
function browsersUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir)) continue;
      if (/\) Z /.test(readFileSync(`/proc/${entry}/stat`, "utf8"))) continue;
      pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

async function expectBrowserGone(dir: string, withinMs = 10_000) {
  const deadline = Date.now() + withinMs;
  while ((browsersUnder(dir).length > 0 || readdirSync(dir).length > 0) && Date.now() < deadline) await sleep(100);
  expect(browsersUnder(dir)).toEqual([]);
  expect(readdirSync(dir)).toEqual([]);
}

beforeAll(async () => {
  pages = await listen("127.0.0.1", 0, pageHandler);
  P = pages.port;
  PAGES = `http://127.0.0.1:${P}`;
  canaryA = await canary("127.0.0.1", 0);
  C = canaryA.port;
  CANARY_A = `http://127.0.0.1:${C}`;
  canaryB = await canary("127.0.0.2", P);
  browserTmp = mkdtempSync(join(tmpdir(), "nexus-research-test-"));
  nexus = await startLocal({
    port: 0,
    logLevel: "SILENT",
    agents: [createResearchAgent({ resolve: testResolver })],
    standIns: [researchStandIn({ extraAllow: `127.0.0.1:${P}` })],
    agentConfig: { NEXUS_RESEARCH_TMPDIR: browserTmp },
    settings: { rateLimitPerMinute: 1_000_000 },
  });
  api = apiClient(nexus.url, nexus.adminKey);
  // the stand-in's weather provider, plus providers that point where they must not (read on first use)
  const registry = JSON.parse(nexus.standIns.research?.secrets[LOOKUP_SECRET_NAME] ?? "{}");
  const key = { apiKey: API_KEY_ECHO };
  nexus.putSecret(
    LOOKUP_SECRET_NAME,
    JSON.stringify({
      ...registry,
      echo: { url: `${PAGES}/echo-key?q={query}`, ...key },
      intranet: { url: "http://10.0.0.1/search?q={query}", ...key },
      metadata: { url: "http://169.254.169.254/latest/meta-data/{query}", ...key },
      loopback: { url: `${CANARY_A}/search?q={query}`, ...key },
      named: { url: `http://canary.test:${P}/search?q={query}&key={apiKey}`, ...key },
      bounce: { url: `${PAGES}/redirect?q={query}&to=${encodeURIComponent(`${CANARY_A}/stolen`)}`, ...key },
    }),
  );
});

afterAll(async () => {
  await nexus?.stop();
  await Promise.all([pages?.close(), canaryA?.close(), canaryB?.close()]);
  if (browserTmp) rmSync(browserTmp, { recursive: true, force: true });
});

describe("research agent end to end", () => {
  it("is registered under its fixed id with its three actions and health", async () => {
    const agent = await api.get("/v1/agents/research");
    expect(agent.status).toBe(200);
    expect(agent.body).toMatchObject({ id: "research", kind: "research", builtin: true });
    expect(agent.body.actions.map((a: { name: string }) => a.name)).toEqual([
      "fetch_page",
      "render_page",
      "lookup",
      "health",
    ]);
  });

  it("fetch_page extracts title, byline, text and absolute links of an article", async () => {
    const task = await run("fetch_page", { url: `${PAGES}/article.html` });
    expect(task.status).toBe("succeeded");
    const page = task.result;
    expect(page).toMatchObject({ url: `${PAGES}/article.html`, finalUrl: `${PAGES}/article.html`, status: 200 });
    expect(page.contentType).toBe("text/html");
    expect(page.title).toContain("Tides of the North Sea");
    expect(page.byline).toBe("Marta Jensen");
    expect(page.text).toContain("amphidromic points");
    expect(page.links).toContainEqual({
      href: `${PAGES}/tides/amphidromic.html`,
      text: "our explainer on amphidromic points",
    });
    expect(page.links.map((l: { href: string }) => l.href)).toContain("https://example.org/elsewhere");
  });

  it("fetch_page follows allowed redirects, returns non-HTML as text, stops redirect loops", async () => {
    const redirected = await run("fetch_page", { url: `${PAGES}/redirect?to=/article.html` });
    expect(redirected.result).toMatchObject({ finalUrl: `${PAGES}/article.html`, redirects: 1, status: 200 });
    const json = await run("fetch_page", { url: `${PAGES}/data.json` });
    expect(json.result).toMatchObject({ contentType: "application/json", title: null, links: [] });
    expect(JSON.parse(json.result.text)).toEqual({ tide: "high", m: 3.1 });
    const loop = await run("fetch_page", { url: `${PAGES}/loop` });
    expect(loop).toMatchObject({ status: "failed", attempts: 1, error: { code: "too_many_redirects" } });
  });

  it("fetch_page connects to the address it checked (DNS rebinding: the name is resolved once)", async () => {
    const task = await run("fetch_page", { url: `http://rebind-fetch.test:${P}/article.html` });
    expect(task.status).toBe("succeeded");
    expect(task.result.title).toContain("Tides of the North Sea");
    expect(resolveCalls.get("rebind-fetch.test")).toBe(1);
    expect(canaryB.connections()).toBe(0);
  });

  it("fetch_page sees only the page's HTML; render_page sees what its JavaScript built", async () => {
    const fetched = await run("fetch_page", { url: `${PAGES}/app.html` });
    expect(fetched.result.text).toContain("Loading");
    expect(fetched.result.text).not.toContain("Built by JavaScript");

    const rendered = await run("render_page", { url: `${PAGES}/app.html`, waitFor: "#ready", screenshot: true });
    expect(rendered.status, JSON.stringify(rendered.error)).toBe("succeeded");
    const page = rendered.result;
    expect(page).toMatchObject({ url: `${PAGES}/app.html`, finalUrl: `${PAGES}/app.html`, status: 200 });
    expect(page.title).toBe("Harbour dashboard");
    expect(page.text).toContain("Built by JavaScript: high water at 14:32");
    expect(page.links).toContainEqual({ href: `${PAGES}/tides/today.html`, text: "Today's tides" });
    expect(page.blocked).toEqual([]);

    // the screenshot is stored and linked, not inlined
    expect(page.screenshot).toMatchObject({ contentType: "image/png", bytes: expect.any(Number) });
    expect(page.screenshot.url).toBe(`${nexus.standIns.research?.url}/artifacts/screenshots/${rendered.id}.png`);
    const png = await fetch(page.screenshot.url);
    expect(png.status).toBe(200);
    expect(png.headers.get("content-type")).toBe("image/png");
    const bytes = Buffer.from(await png.arrayBuffer());
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(bytes.length).toBe(page.screenshot.bytes);
    expect(JSON.stringify(rendered).length).toBeLessThan(20_000);

    await expectBrowserGone(browserTmp, 0);
  });

  it("render_page waits a number of milliseconds, and resolves each name once per task", async () => {
    const task = await run("render_page", { url: `http://rebind-render.test:${P}/app.html`, waitFor: 1000 });
    expect(task.status, JSON.stringify(task.error)).toBe("succeeded");
    expect(task.result.text).toContain("Built by JavaScript");
    expect(resolveCalls.get("rebind-render.test")).toBe(1);
    expect(canaryB.connections()).toBe(0);
    await expectBrowserGone(browserTmp, 0);
  });

  it("lookup queries a configured provider with its key, and never returns the key", async () => {
    const task = await run("lookup", { provider: "weather", query: "Lisbon" });
    expect(task.status, JSON.stringify(task.error)).toBe("succeeded");
    expect(task.result).toMatchObject({ provider: "weather", query: "Lisbon", status: 200 });
    expect(task.result.result).toMatchObject({ location: "Lisbon", current: { temperatureC: expect.any(Number) } });
    const registry = JSON.parse(nexus.standIns.research?.secrets[LOOKUP_SECRET_NAME] ?? "{}");
    expect(JSON.stringify(task)).not.toContain(registry.weather.apiKey);

    const echoed = await run("lookup", { provider: "echo", query: "a b&c" });
    expect(echoed.result.result).toEqual({ youSent: "[redacted]", q: "a b&c" });
    expect(JSON.stringify(echoed)).not.toContain(API_KEY_ECHO);

    const unknown = await run("lookup", { provider: "nope", query: "x" });
    expect(unknown).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { code: "unknown_provider", retriable: false },
    });
    expect(unknown.error.message).toContain("weather");
  });

  it("the artifact server is read-only and keeps to its directory", async () => {
    const base = nexus.standIns.research?.url ?? "";
    const dir = nexus.agentConfig.NEXUS_ARTIFACTS_DIR ?? "";
    symlinkSync("/etc/passwd", join(dir, "escape.txt"));
    const raw = (path: string, method = "GET") =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(`${base}${path}`, { method }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    for (const path of [
      "/artifacts/../admin-key",
      "/artifacts/%2e%2e/%2e%2e/etc/passwd",
      "/artifacts/..%2f..%2fetc%2fpasswd",
      "/artifacts/screenshots/..%5c..%5cetc",
      "/artifacts/%00",
      "/artifacts/escape.txt",
      "/artifacts/.hidden",
    ]) {
      expect(await raw(path), path).toBe(404);
    }
    expect(await raw("/artifacts/escape.txt", "PUT")).toBe(405);
    expect(await raw("/artifacts/x.png", "DELETE")).toBe(405);
  });
});

describe("SSRF attack corpus: refused, nothing fetched", () => {
  const privateTargets = () => [
    "http://10.0.0.1/",
    "HTTP://10.0.0.1/",
    "https://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    `http://[::1]:${C}/`,
    `http://0.0.0.0:${C}/`,
    `http://0:${C}/`,
    `http://localhost:${C}/`,
    `http://2130706433:${C}/`,
    `http://2130706434:${P}/`,
    `http://0x7f000002:${P}/`,
    `http://0x7f.2:${P}/`,
    `http://0177.0.0.2:${P}/`,
    `http://017700000001:${C}/`,
    `http://127.2:${P}/`,
    `http://127.0.0.1:${C}/`,
    `http://127.0.0.2:${P}/`,
    `http://[::ffff:127.0.0.1]:${C}/`,
    `http://[::ffff:7f00:2]:${P}/`,
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    `http://canary.test:${P}/`,
    `http://127.0.0.1.nip.io:${C}/`,
    "http://private.test/",
    "http://metadata.test/latest/meta-data/",
    `http://mixed.test:${P}/`,
    `http://mapped.test:${P}/`,
    `http://user:pass@127.0.0.1:${P}/with-credentials`,
    `http://user@127.0.0.1:${P}/with-credentials`,
    `${PAGES}/redirect?to=${encodeURIComponent(`${CANARY_A}/via-redirect`)}`,
    `${PAGES}/redirect?to=${encodeURIComponent("http://169.254.169.254/latest/meta-data/")}`,
    `${PAGES}/redirect?to=${encodeURIComponent("http://10.0.0.1/")}`,
    `${PAGES}/redirect?to=${encodeURIComponent(`http://[::1]:${C}/`)}`,
    `${PAGES}/redirect?to=${encodeURIComponent(`http://canary.test:${P}/`)}`,
    `${PAGES}/redirect?to=${encodeURIComponent("file:///etc/passwd")}`,
    `${PAGES}/redirect?to=${encodeURIComponent(`gopher://127.0.0.1:${C}/_x`)}`,
  ];

  const badSchemes = () => [
    "file:///etc/passwd",
    `gopher://127.0.0.1:${C}/_GET`,
    `ftp://127.0.0.1:${C}/`,
    `dict://127.0.0.1:${C}/info`,
    "javascript:alert(1)",
    "data:text/html,<script>1</script>",
    `//127.0.0.1:${C}/`,
  ];

  it("fetch_page: bad schemes are a 400 at the API, naming params.url", async () => {
    for (const url of badSchemes()) {
      const reply = await submit("fetch_page", { url });
      expect(reply.status, url).toBe(400);
      expect(reply.body.error.code).toBe("validation_error");
      expect(JSON.stringify(reply.body.error.details)).toContain("params.url");
    }
  });

  it("fetch_page: private, loopback, metadata, encoded, mapped, resolved and redirected targets are refused", async () => {
    const targets = privateTargets();
    const tasks = await Promise.all(targets.map((url) => run("fetch_page", { url })));
    for (const [i, task] of tasks.entries()) {
      expect(task, targets[i]).toMatchObject({
        status: "failed",
        attempts: 1,
        error: { code: "ssrf_blocked", retriable: false },
      });
    }
    expect(canaryA.connections()).toBe(0);
    expect(canaryB.connections()).toBe(0);
    expect(pageHits).not.toContain("/with-credentials");
  });

  it("render_page: the same corpus is refused, in the page request or in the browser's navigation", async () => {
    const targets = privateTargets().filter(
      // the browser variants that start Chromium are kept few: one per kind of redirect target
      (url) => !url.includes("/redirect?") || url.includes("via-redirect") || url.includes("169.254.169.254"),
    );
    const tasks = await Promise.all(targets.map((url) => run("render_page", { url, timeoutMs: 15_000 })));
    for (const [i, task] of tasks.entries()) {
      expect(task, targets[i]).toMatchObject({ status: "failed", error: { code: "ssrf_blocked", retriable: false } });
    }
    for (const url of badSchemes()) expect((await submit("render_page", { url })).status, url).toBe(400);
    expect(canaryA.connections()).toBe(0);
    expect(canaryB.connections()).toBe(0);
    expect(pageHits).not.toContain("/with-credentials");
    await expectBrowserGone(browserTmp);
  });

  it("render_page: a page's subresources, frames, fetches, XHR and WebSockets to refused addresses go nowhere", async () => {
    const task = await run("render_page", { url: `${PAGES}/attack.html`, waitFor: 1500 });
    expect(task.status, JSON.stringify(task.error)).toBe("succeeded");
    const blocked = task.result.blocked.map((b: { url: string }) => b.url).join(" ");
    for (const part of [`127.0.0.1:${C}/img.png`, `127.0.0.1:${C}/frame.html`, "169.254.169.254", "10.0.0.1"]) {
      expect(blocked).toContain(part);
    }
    expect(blocked).toContain(`127.0.0.2:${P}`);
    expect(blocked).toContain(`canary.test:${P}`);
    expect(task.result.text).toContain("fetch-refused");
    expect(task.result.text).toContain("ws-refused");
    // WebSockets escape request interception: the proxy refused the tunnel (an entry without a scheme)
    expect(task.result.blocked.map((b: { url: string }) => b.url)).toContain(`127.0.0.1:${C}`);
    expect(canaryA.connections()).toBe(0);
    expect(canaryB.connections()).toBe(0);
    await expectBrowserGone(browserTmp, 0);
  });

  it("render_page: a page that navigates itself into refused space gets nowhere", async () => {
    const task = await run("render_page", { url: `${PAGES}/navigate-away.html`, waitFor: 1000 });
    expect(["succeeded", "failed"]).toContain(task.status);
    if (task.status === "failed") expect(task.error.code).toBe("ssrf_blocked");
    expect(canaryA.connections()).toBe(0);
    await expectBrowserGone(browserTmp);
  });

  it("lookup: providers pointing at refused addresses are refused, and the key appears nowhere", async () => {
    for (const provider of ["intranet", "metadata", "loopback", "named", "bounce"]) {
      const task = await run("lookup", { provider, query: "secrets" });
      expect(task, provider).toMatchObject({
        status: "failed",
        attempts: 1,
        error: { code: "ssrf_blocked", retriable: false },
      });
      expect(JSON.stringify(task)).not.toContain(API_KEY_ECHO);
    }
    expect(canaryA.connections()).toBe(0);
    expect(canaryB.connections()).toBe(0);
  });
});

describe("the browser's proxy on its own", () => {
  it("refuses and relays by the guard, for absolute-form requests and CONNECT tunnels", async () => {
    const proxy = await startGuardedProxy({
      policy: { allow: parseAllowList(`127.0.0.1:${P}`), resolve: testResolver },
    });
    const through = (method: string, path: string) =>
      new Promise<number>((resolve, reject) => {
        const { port } = new URL(proxy.url);
        const req = http.request({ host: "127.0.0.1", port, method, path });
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("connect", (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    try {
      expect(await through("GET", `${PAGES}/article.html`)).toBe(200);
      expect(await through("GET", `http://pages.test:${P}/article.html`)).toBe(200);
      expect(await through("GET", `${CANARY_A}/direct`)).toBe(403);
      expect(await through("GET", `http://canary.test:${P}/direct`)).toBe(403);
      expect(await through("GET", "http://169.254.169.254/latest/meta-data/")).toBe(403);
      expect(await through("CONNECT", `127.0.0.1:${C}`)).toBe(403);
      expect(await through("CONNECT", `127.0.0.2:${P}`)).toBe(403);
      expect(await through("CONNECT", `127.0.0.1:${P}`)).toBe(200);
      expect(await through("GET", "/not-absolute")).toBe(400);
      expect(canaryA.connections()).toBe(0);
      expect(canaryB.connections()).toBe(0);
    } finally {
      await proxy.stop();
    }
  });
});

describe("the browser is gone after every task", () => {
  it("after a page that never loads times out (timeoutMs)", async () => {
    const submitted = await submit("render_page", { url: `${PAGES}/slow`, timeoutMs: 2000 });
    const deadline = Date.now() + 30_000;
    let task: Json;
    do {
      await sleep(200);
      task = (await api.get(`/v1/tasks/${submitted.body.id}`)).body;
    } while (!task.events.some((e: { type: string }) => e.type === "attempt_failed") && Date.now() < deadline);
    const failure = task.events.find((e: { type: string }) => e.type === "attempt_failed");
    expect(failure?.error).toMatchObject({ code: "render_timeout", retriable: true });
    await api.post(`/v1/tasks/${submitted.body.id}/cancel`);
    await expectBrowserGone(browserTmp);
  });

  it("after the task's signal aborts mid-load (the worker's timeout)", async () => {
    const own = mkdtempSync(join(tmpdir(), "nexus-research-abort-"));
    try {
      const handlers = createResearchAgent({ resolve: testResolver }).handlers({
        ctx: nexus.ctx,
        config: { ...nexus.agentConfig, NEXUS_RESEARCH_TMPDIR: own },
        logger: createLogger("nexus-test", { level: "SILENT" }),
      });
      const controller = new AbortController();
      const rendering = handlers.render_page?.(
        { url: `${PAGES}/slow`, timeoutMs: 30_000 },
        { taskId: "abort-test", attempt: 1, maxAttempts: 1, signal: controller.signal },
      );
      const outcome = rendering?.then(
        () => "resolved",
        (error: { code?: string }) => error.code,
      );
      // the browser is up, with its profile in our directory
      const deadline = Date.now() + 15_000;
      while (browsersUnder(own).length === 0 && Date.now() < deadline) await sleep(100);
      const pids = browsersUnder(own);
      expect(pids.length).toBeGreaterThan(0);
      expect(readdirSync(own).length).toBe(1);
      controller.abort();
      expect(await outcome).toBe("aborted");
      await expectBrowserGone(own);
    } finally {
      rmSync(own, { recursive: true, force: true });
    }
  });
});
