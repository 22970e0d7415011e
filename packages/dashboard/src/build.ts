import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";
import type { Asset } from "./index.js";

const UI = fileURLToPath(new URL("../ui/", import.meta.url));

/**
 * Builds the dashboard from its sources (ui/) with esbuild: one script and one stylesheet, minified, named by a hash
 * of their content (so they can be cached for good), and the page that loads them. Nothing inline: the page's
 * Content-Security-Policy allows scripts and styles from its own origin only.
 */
export function buildDashboard(): Asset[] {
  const out = buildSync({
    entryPoints: [`${UI}main.ts`, `${UI}style.css`, `${UI}docs.ts`, `${UI}docs.css`],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2022", "chrome110", "firefox115", "safari16"],
    outdir: "/assets",
    entryNames: "[name]-[hash]",
    write: false,
    legalComments: "none",
    logLevel: "silent",
  });
  const files: Asset[] = out.outputFiles.map((file) => ({
    path: file.path.slice(file.path.indexOf("/assets/")),
    type: file.path.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8",
    body: file.text,
    immutable: true,
  }));
  const pathOf = (prefix: string, ext = "js") =>
    files.find((file) => file.path.startsWith(`/assets/${prefix}-`) && file.path.endsWith(`.${ext}`))?.path;
  const script = pathOf("main");
  const style = pathOf("style", "css");
  const swagger = swaggerAssets();
  const html = [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>Nexus</title>",
    `<link rel="stylesheet" href="${style}">`,
    `<script type="module" src="${script}"></script>`,
    "</head>",
    "<body>",
    '<div id="app"><noscript>The Nexus dashboard needs JavaScript.</noscript></div>',
    "</body>",
    "</html>",
    "",
  ].join("\n");
  const docs = [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>Nexus API</title>",
    `<link rel="stylesheet" href="${swagger.css.path}">`,
    `<link rel="stylesheet" href="${pathOf("docs", "css")}">`,
    "</head>",
    "<body>",
    '<main id="swagger-ui"></main>',
    `<script src="${swagger.js.path}"></script>`,
    `<script src="${pathOf("docs")}"></script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
  return [
    { path: "/", type: "text/html; charset=utf-8", body: html, immutable: false },
    { path: "/docs", type: "text/html; charset=utf-8", body: docs, immutable: false },
    ...files,
    swagger.js,
    swagger.css,
  ];
}

/** Swagger UI's script and stylesheet from its npm package (swagger-ui-dist), named by their content's hash. */
function swaggerAssets(): { js: Asset; css: Asset } {
  const dist = createRequire(import.meta.url)
    .resolve("swagger-ui-dist/package.json")
    .replace(/package\.json$/, "");
  const file = (name: string, ext: string, type: string): Asset => {
    // Its source map is not served: the reference to it goes.
    const body = readFileSync(`${dist}${name}.${ext}`, "utf8").replace(/\n\/[/*]# sourceMappingURL=.*$/, "");
    return { path: `/assets/${name}-${hashOf(body)}.${ext}`, type, body, immutable: true };
  };
  return {
    js: file("swagger-ui-bundle", "js", "text/javascript; charset=utf-8"),
    css: file("swagger-ui", "css", "text/css; charset=utf-8"),
  };
}

/** The assets as one JSON text, to embed in a bundle (esbuild `define`, see stacks/bundling.ts). */
export const embeddedDashboard = () => JSON.stringify(buildDashboard());

/** A short content hash (for ETags). */
export const hashOf = (body: string) => createHash("sha256").update(body).digest("base64url").slice(0, 16);
