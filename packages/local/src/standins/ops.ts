import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StandInFactory } from "./types.js";

const LOOPBACK = "127.0.0.1";
/** Where /redirect-outside points: the cloud metadata address, which is never on the allow-list (nor fetched). */
export const OUTSIDE_TARGET = "http://169.254.169.254/latest/meta-data/";

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/**
 * The internal endpoint: a few routes to try http_check against.
 * `/health` 200 · `/status/<code>` that status · `/slow?ms=N` answers after N ms (≤ 30 s) ·
 * `/redirect-inside` 302 → /health · `/redirect-outside` 302 → the metadata address ·
 * `/redirect?to=URL[&status=301|302|303|307|308]` a redirect to any URL (to try the redirect rules) ·
 * `/loop` redirects to itself.
 */
function route(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? "/", `http://${LOOPBACK}`);
  const path = url.pathname;
  if (path === "/health") return reply(res, 200, { status: "ok" });
  const status = /^\/status\/([1-5]\d\d)$/.exec(path)?.[1];
  if (status) return reply(res, Number(status), { status: Number(status) });
  if (path === "/slow") {
    const ms = Math.min(Number(url.searchParams.get("ms")) || 0, 30_000);
    const timer = setTimeout(() => reply(res, 200, { sleptMs: ms }), ms);
    res.once("close", () => clearTimeout(timer));
    return;
  }
  if (path === "/redirect-inside") return reply(res, 302, {}, { location: "/health" });
  if (path === "/redirect-outside") return reply(res, 302, {}, { location: OUTSIDE_TARGET });
  if (path === "/loop") return reply(res, 302, {}, { location: "/loop" });
  if (path === "/redirect") {
    const to = url.searchParams.get("to") ?? "/health";
    const code = Number(url.searchParams.get("status") ?? 302);
    return reply(res, [301, 302, 303, 307, 308].includes(code) ? code : 302, {}, { location: to });
  }
  return reply(res, 404, { error: "not_found" });
}

/**
 * The ops agent's local stand-ins: its workspace (`<dataDir>/workspace`, or a temporary directory removed on
 * stop) and an "internal endpoint" on 127.0.0.1 put on NEXUS_HTTP_ALLOW, so http_check has something to check.
 */
export const startOpsStandIn: StandInFactory = async (context) => {
  let workspace: string;
  let temporary: string | undefined;
  if (context.dataDir) {
    workspace = join(context.dataDir, "workspace");
    mkdirSync(workspace, { recursive: true, mode: 0o700 });
  } else {
    temporary = mkdtempSync(join(tmpdir(), "nexus-ops-"));
    workspace = join(temporary, "workspace");
    mkdirSync(workspace, { mode: 0o700 });
  }
  workspace = realpathSync(workspace);

  const server = createServer(route);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, LOOPBACK, () => resolve());
    });
  } catch (error) {
    if (temporary) rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${LOOPBACK}:${port}`;

  return {
    name: "ops",
    config: { NEXUS_WORKSPACE_DIR: workspace, NEXUS_HTTP_ALLOW: `${LOOPBACK}:${port}` },
    secrets: {},
    describe: [
      `ops workspace:          ${workspace}`,
      `ops internal endpoint:  ${url}/health (on NEXUS_HTTP_ALLOW; also /redirect-inside, /redirect-outside)`,
    ],
    url,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (temporary) rmSync(temporary, { recursive: true, force: true });
    },
  };
};
