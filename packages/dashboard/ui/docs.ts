/**
 * The interactive API docs (`/docs`): Swagger UI, served from Nexus's own origin, reading `/openapi.json`. Requests
 * made with "Try it out" carry the key the dashboard was signed in with in this tab, if any (or the one typed in
 * Swagger UI's Authorize dialog).
 */
interface SwaggerRequest {
  headers: Record<string, string>;
}
declare const SwaggerUIBundle: (options: Record<string, unknown>) => unknown;

const key = sessionStorage.getItem("nexus.key");
SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  // Deep links are anchors inside each operation's toggle button (nested controls a keyboard or screen reader cannot use).
  deepLinking: false,
  requestInterceptor: (request: SwaggerRequest) => {
    if (key && !request.headers.Authorization && !request.headers.authorization) {
      request.headers.Authorization = `Bearer ${key}`;
    }
    return request;
  },
});

// Swagger UI renders the document's servers as a select with no label: name it for assistive technology.
const root = document.getElementById("swagger-ui");
if (root) {
  const label = () => {
    const servers = root.querySelector<HTMLSelectElement>("select#servers");
    if (servers && !servers.hasAttribute("aria-label")) servers.setAttribute("aria-label", "Server");
  };
  new MutationObserver(label).observe(root, { childList: true, subtree: true });
}
