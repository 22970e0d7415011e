import { randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, realpath, rm, stat } from "node:fs/promises";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, resolve, sep } from "node:path";
import type { StandIn, StandInFactory } from "./types.js";

/**
 * The research agent's local stand-in, one server on 127.0.0.1:
 * - `/artifacts/…`: the artifacts directory (screenshots), read-only, the way S3 presigned links serve them
 *   in AWS (`NEXUS_ARTIFACTS_DIR` + `NEXUS_ARTIFACTS_URL`);
 * - `/lookup/weather?q=…`: a fake weather JSON API that wants an API key, registered as the `weather`
 *   lookup provider in the local lookup secret (`NEXUS_LOOKUP_SECRET`);
 * - `/demo/article.html`, `/demo/app.html`: two pages to try fetch_page and render_page on.
 *
 * SSRF allow-list locally: this server's own origin only (`127.0.0.1:<port>`), so the lookup provider and
 * the demo pages work and the rest of loopback (the API, dynalite, SQS, the Secrets Manager endpoint) stays
 * out of the agent's reach. Entries in the environment's `NEXUS_SSRF_ALLOW` are added (e.g. `127.0.0.1:8080`
 * to try a page served on the laptop; `127.0.0.1` opens all of loopback, emulators included).
 */
export interface ResearchStandInOptions {
  /** More `NEXUS_SSRF_ALLOW` entries (comma-separated), after this server's own origin. */
  extraAllow?: string;
  /** A system Chromium for render_page; default: /usr/bin/chromium when it exists, else @sparticuz/chromium. */
  chromiumPath?: string;
}

export const LOOKUP_SECRET_NAME = "nexus/research/lookup";
const SYSTEM_CHROMIUM = "/usr/bin/chromium";

const CONTENT_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".pdf": "application/pdf",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

const DEMO_ARTICLE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nexus demo: an article</title>
<meta name="author" content="Nexus Local"></head>
<body><nav><a href="/demo/app.html">The JavaScript demo</a></nav>
<article><h1>Nexus demo: an article</h1><p class="byline">By Nexus Local</p>
<p>This page is served by the research stand-in so that fetch_page has something to read on a laptop with no
network. Readability finds this article, its title and its byline; the links of the whole page are returned too.</p>
<p>Try render_page on the JavaScript demo page: its text exists only once a browser has run its script.</p>
</article></body></html>`;

const DEMO_APP = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nexus demo: built by JavaScript</title></head>
<body><main id="app">Loading…</main>
<script>
  setTimeout(function () {
    document.getElementById("app").innerHTML =
      '<h1 id="ready">Built by JavaScript</h1><p>fetch_page sees only "Loading…"; render_page sees this.</p>' +
      '<a href="/demo/article.html">The article demo</a>';
  }, 100);
</script></body></html>`;

/** A made-up but stable weather report for a place name. */
function weatherFor(place: string) {
  let hash = 0;
  for (const char of place.toLowerCase()) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  const conditions = ["clear", "cloudy", "rain", "snow", "fog", "wind"];
  return {
    location: place,
    current: {
      temperatureC: (hash % 40) - 5,
      condition: conditions[hash % conditions.length],
      humidityPercent: 30 + (hash % 60),
    },
    source: "nexus-local-weather (fake data)",
  };
}

function send(res: ServerResponse, status: number, body: string, type = "application/json") {
  res.writeHead(status, {
    "content-type": type,
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
  });
  res.end(body);
}

/** Serves one file under `root` for GET/HEAD; anything that leaves the directory (`..`, symlinks) is a 404. */
async function serveArtifact(req: IncomingMessage, res: ServerResponse, root: string, rest: string) {
  let relative: string;
  try {
    relative = decodeURIComponent(rest);
  } catch {
    send(res, 400, JSON.stringify({ error: "bad path" }));
    return;
  }
  const parts = relative.split("/");
  if (
    relative.includes("\0") ||
    relative.includes("\\") ||
    parts.some((part) => part === "" || part === "." || part === ".." || part.startsWith("."))
  ) {
    send(res, 404, JSON.stringify({ error: "not found" }));
    return;
  }
  const realRoot = await realpath(root);
  let file: string;
  try {
    file = await realpath(resolve(realRoot, ...parts));
  } catch {
    send(res, 404, JSON.stringify({ error: "not found" }));
    return;
  }
  const info = await stat(file).catch(() => undefined);
  if (!file.startsWith(`${realRoot}${sep}`) || !info?.isFile()) {
    send(res, 404, JSON.stringify({ error: "not found" }));
    return;
  }
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[extname(file).toLowerCase()] ?? "application/octet-stream",
    "content-length": info.size,
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'",
    "cache-control": "no-store",
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  createReadStream(file).pipe(res);
}

export function researchStandIn(options: ResearchStandInOptions = {}): StandInFactory {
  return async (context) => {
    let root: string;
    let removeOnStop = false;
    if (context.dataDir) {
      root = join(context.dataDir, "artifacts");
      await mkdir(root, { recursive: true });
    } else {
      root = await mkdtemp(join(tmpdir(), "nexus-artifacts-"));
      removeOnStop = true;
    }
    const apiKey = randomBytes(18).toString("base64url");

    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://stand-in");
      if (req.method !== "GET" && req.method !== "HEAD") {
        send(res, 405, JSON.stringify({ error: "read-only" }));
        return;
      }
      if (url.pathname.startsWith("/artifacts/")) {
        serveArtifact(req, res, root, url.pathname.slice("/artifacts/".length)).catch(() => {
          if (!res.headersSent) send(res, 500, JSON.stringify({ error: "read failed" }));
          else res.destroy();
        });
        return;
      }
      if (url.pathname === "/lookup/weather") {
        if (req.headers["x-api-key"] !== apiKey) {
          send(res, 401, JSON.stringify({ error: "missing or wrong X-Api-Key" }));
          return;
        }
        const place = (url.searchParams.get("q") ?? "").trim();
        if (!place) {
          send(res, 400, JSON.stringify({ error: "q is required" }));
          return;
        }
        send(res, 200, JSON.stringify(weatherFor(place)));
        return;
      }
      if (url.pathname === "/demo/article.html") return send(res, 200, DEMO_ARTICLE, "text/html; charset=utf-8");
      if (url.pathname === "/demo/app.html") return send(res, 200, DEMO_APP, "text/html; charset=utf-8");
      send(res, 404, JSON.stringify({ error: "not found" }));
    });
    await new Promise<void>((done, fail) => {
      server.once("error", fail);
      server.listen(0, "127.0.0.1", () => done());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}`;
    const chromiumPath = options.chromiumPath ?? (existsSync(SYSTEM_CHROMIUM) ? SYSTEM_CHROMIUM : undefined);
    const allow = [`127.0.0.1:${port}`, ...(options.extraAllow ?? "").split(",")]
      .map((entry) => entry.trim())
      .filter(Boolean)
      .join(",");

    const standIn: StandIn = {
      name: "research",
      url,
      config: {
        NEXUS_ARTIFACTS_DIR: root,
        NEXUS_ARTIFACTS_URL: `${url}/artifacts`,
        NEXUS_LOOKUP_SECRET: LOOKUP_SECRET_NAME,
        NEXUS_SSRF_ALLOW: allow,
        ...(chromiumPath ? { NEXUS_CHROMIUM_PATH: chromiumPath } : {}),
      },
      secrets: {
        [LOOKUP_SECRET_NAME]: JSON.stringify({
          weather: {
            url: `${url}/lookup/weather?q={query}`,
            apiKey,
            apiKeyHeader: "X-Api-Key",
          },
        }),
      },
      describe: [
        `Research     ${url}/demo/article.html  (demo pages for fetch_page / render_page)`,
        `             screenshots served from ${url}/artifacts/ (files in ${root})`,
        `             lookup provider "weather" (fake data) at ${url}/lookup/weather`,
        `             SSRF allow-list: ${allow}  (add entries with NEXUS_SSRF_ALLOW)`,
        `             Chromium: ${chromiumPath ?? "@sparticuz/chromium (unpacked to the temp directory)"}`,
      ],
      stop: async () => {
        await new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
        if (removeOnStop) await rm(root, { recursive: true, force: true });
      },
    };
    return standIn;
  };
}

/** The stand-in `npm run dev` starts: its allow-list and Chromium can be extended from the environment. */
export const startResearchStandIn: StandInFactory = (context) =>
  researchStandIn({
    ...(process.env.NEXUS_SSRF_ALLOW ? { extraAllow: process.env.NEXUS_SSRF_ALLOW } : {}),
    ...(process.env.NEXUS_CHROMIUM_PATH ? { chromiumPath: process.env.NEXUS_CHROMIUM_PATH } : {}),
  })(context);
