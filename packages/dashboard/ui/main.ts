import { ApiError, clearKey, get, getKey, type Me, setKey } from "./api.js";
import { alertBox, h, replace } from "./dom.js";
import { Feed, type FeedEvent } from "./feed.js";
import { activityPage } from "./pages/activity.js";
import { agentPage, agentsPage } from "./pages/agents.js";
import { alarmsPage } from "./pages/alarms.js";
import { failuresPage } from "./pages/failures.js";
import { auditPage, keysPage } from "./pages/keys.js";
import { overviewPage } from "./pages/overview.js";
import { planPage, plansPage } from "./pages/plans.js";
import { runPage } from "./pages/run.js";
import { schedulesPage } from "./pages/schedules.js";
import { taskPage, tasksPage } from "./pages/tasks.js";

/** What a page gets: who is signed in, the live feed, the route's parts and query, and its own element. */
export interface PageContext {
  me: Me;
  /** The path after `#/`, split: `tasks/tsk_1` → ["tasks", "tsk_1"]. */
  path: string[];
  query: URLSearchParams;
  root: HTMLElement;
  /** Whether the key may call a route, e.g. `POST /v1/tasks`: what it may not do is not shown. */
  can: (route: string) => boolean;
  /** Calls `listener` with the feed's events while this page is shown. */
  onFeed: (listener: (events: FeedEvent[]) => void) => void;
  /** Sets the page's title (and the document's). */
  title: (text: string) => void;
}

type Page = (ctx: PageContext) => Promise<void> | void;

const PAGES: Record<string, Page> = {
  "": overviewPage,
  agents: (ctx) => (ctx.path[1] ? agentPage(ctx) : agentsPage(ctx)),
  tasks: (ctx) => (ctx.path[1] ? taskPage(ctx) : tasksPage(ctx)),
  run: runPage,
  activity: activityPage,
  plans: (ctx) => (ctx.path[1] ? planPage(ctx) : plansPage(ctx)),
  failures: failuresPage,
  alarms: alarmsPage,
  schedules: schedulesPage,
  keys: keysPage,
  audit: auditPage,
};

const NAV: Array<{ path: string; label: string; route: string }> = [
  { path: "", label: "Overview", route: "GET /v1/agents" },
  { path: "agents", label: "Agents", route: "GET /v1/agents" },
  { path: "tasks", label: "Tasks", route: "GET /v1/tasks" },
  { path: "run", label: "Run a task", route: "POST /v1/tasks" },
  { path: "plans", label: "Plans", route: "GET /v1/plans" },
  { path: "failures", label: "Failures", route: "GET /v1/failures" },
  { path: "alarms", label: "Alarms", route: "GET /v1/alarms" },
  { path: "schedules", label: "Schedules", route: "GET /v1/schedules" },
  { path: "activity", label: "Activity", route: "GET /v1/events" },
  { path: "keys", label: "Keys", route: "GET /v1/keys" },
  { path: "audit", label: "Audit", route: "GET /v1/audit" },
];

const app = document.getElementById("app") as HTMLElement;
const feed = new Feed();
let me: Me | undefined;
let pageListeners: Array<(events: FeedEvent[]) => void> = [];
feed.subscribe((events) => {
  for (const listener of pageListeners) listener(events);
});

function signInPage(message?: string) {
  document.title = "Sign in · Nexus";
  const input = h("input", {
    id: "key",
    name: "key",
    type: "password",
    autocomplete: "off",
    required: true,
    spellcheck: "false",
    "aria-describedby": "key-help",
  });
  const status = h("div", { "aria-live": "polite" }, message ? alertBox(message) : null);
  const form = h(
    "form",
    {
      class: "signin card",
      on: {
        submit: async (event) => {
          event.preventDefault();
          setKey(input.value.trim());
          try {
            me = await get<Me>("/v1/me");
            history.replaceState(null, "", "#/");
            await start();
          } catch (error) {
            clearKey();
            replace(status, alertBox(error instanceof ApiError ? error.text : String(error)));
          }
        },
      },
    },
    h("h1", null, "Nexus"),
    h("label", { for: "key" }, "API key"),
    input,
    h(
      "p",
      { id: "key-help", class: "muted" },
      "Your key stays in this browser tab (session storage) and is sent only to this Nexus.",
    ),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  replace(app, h("main", { id: "main", class: "center" }, form));
  input.focus();
}

function shell(current: Me) {
  const can = (route: string) => current.can.includes(route);
  const modeText = h("span", { id: "feed-mode" }, "live: connecting");
  feed.onMode = (mode) => {
    modeText.textContent =
      mode === "stream" ? "live: streaming" : mode === "polling" ? "live: polling" : "live: connecting";
  };
  const nav = h(
    "nav",
    { "aria-label": "Main" },
    h(
      "ul",
      null,
      NAV.filter((item) => can(item.route)).map((item) =>
        h("li", null, h("a", { href: `#/${item.path}`, "data-path": item.path }, item.label)),
      ),
    ),
  );
  const header = h(
    "header",
    { class: "top" },
    h("a", { class: "skip", href: "#main", on: { click: skipToMain } }, "Skip to content"),
    h("a", { class: "brand", href: "#/" }, "Nexus"),
    nav,
    h(
      "div",
      { class: "who" },
      h("span", null, `${current.name} · `, h("strong", { id: "role" }, current.role)),
      h(
        "button",
        {
          type: "button",
          class: "link",
          on: {
            click: () => {
              clearKey();
              feed.stop();
              me = undefined;
              location.hash = "#/";
              signInPage();
            },
          },
        },
        "Sign out",
      ),
    ),
  );
  const main = h("main", { id: "main", tabindex: -1 });
  const footer = h("footer", null, modeText);
  replace(app, header, main, footer);
  return main;
}

function skipToMain(event: Event) {
  event.preventDefault();
  document.getElementById("main")?.focus();
}

let renderCount = 0;
async function render() {
  if (!me) return;
  const main = document.getElementById("main") ?? shell(me);
  const [pathPart = "", queryPart = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const path = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  const page = PAGES[path[0] ?? ""];
  for (const link of document.querySelectorAll("nav a")) {
    const active = link.getAttribute("data-path") === (path[0] ?? "");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  pageListeners = [];
  const root = h("div", { class: "page" });
  replace(main, root);
  const current = ++renderCount;
  const current_me = me;
  const ctx: PageContext = {
    me: current_me,
    path,
    query: new URLSearchParams(queryPart),
    root,
    can: (route) => current_me.can.includes(route),
    onFeed: (listener) => {
      if (current === renderCount) pageListeners.push(listener);
    },
    title: (text) => {
      document.title = `${text} · Nexus`;
    },
  };
  if (!page) {
    ctx.title("Not found");
    replace(
      root,
      h("h1", null, "Not found"),
      h("p", null, "There is no such page. ", h("a", { href: "#/" }, "Overview")),
    );
    return;
  }
  root.setAttribute("aria-busy", "true");
  try {
    await page(ctx);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      clearKey();
      me = undefined;
      feed.stop();
      signInPage("Your key was refused (expired or revoked?). Sign in again.");
      return;
    }
    root.append(alertBox(error instanceof ApiError ? error.text : `Something went wrong: ${String(error)}`));
  } finally {
    root.setAttribute("aria-busy", "false");
  }
}

async function start() {
  if (!me) return;
  shell(me);
  feed.stop();
  feed.start();
  await render();
}

window.addEventListener("hashchange", () => void render());

async function boot() {
  if (!getKey()) return signInPage();
  try {
    me = await get<Me>("/v1/me");
  } catch (error) {
    clearKey();
    return signInPage(error instanceof ApiError ? error.text : String(error));
  }
  await start();
}

void boot();
