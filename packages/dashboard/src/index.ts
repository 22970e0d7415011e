/** One file the dashboard serves: its URL path, content type, text, and whether its name changes with its content. */
export interface Asset {
  path: string;
  type: string;
  body: string;
  immutable: boolean;
}

/**
 * Set at bundle time (esbuild `define`, stacks/bundling.ts) to the built assets as JSON text; absent when Nexus runs
 * from its sources (`npm run dev`, tests), where the assets are built with esbuild on first use.
 */
declare const __NEXUS_DASHBOARD__: string;

let loaded: Promise<Map<string, Asset>> | undefined;

/** The dashboard's files by path, built (or read from the bundle) once per process. */
export function dashboardAssets(): Promise<Map<string, Asset>> {
  loaded ??= (async () => {
    const assets: Asset[] =
      typeof __NEXUS_DASHBOARD__ === "string"
        ? (JSON.parse(__NEXUS_DASHBOARD__) as Asset[])
        : (await import("./build.js")).buildDashboard();
    return new Map(assets.map((asset) => [asset.path, asset]));
  })();
  loaded.catch(() => {
    loaded = undefined;
  });
  return loaded;
}

/** The Content-Security-Policy of every dashboard page: nothing inline, nothing from another origin. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
