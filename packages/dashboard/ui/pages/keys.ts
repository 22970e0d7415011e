import { api, get, post, qs } from "../api.js";
import { alertBox, badge, h, replace, time } from "../dom.js";
import type { PageContext } from "../main.js";
import type { ApiKey, Page } from "../types.js";
import { confirmButton, errorText, filterSelect, table } from "./common.js";

/** Keys (admin): create one (its secret shown once), revoke, list. */
export async function keysPage(ctx: PageContext) {
  ctx.title("Keys");
  const status = h("div", { "aria-live": "polite" });
  const list = h("div");
  const name = h("input", { id: "key-name", required: true, maxlength: 100 });
  const role = h(
    "select",
    { id: "key-role" },
    ["viewer", "operator", "admin", "agent"].map((r) => h("option", { value: r }, r)),
  );
  const agent = h("input", { id: "key-agent", maxlength: 64 });
  const form = h(
    "form",
    {
      class: "card inline-form",
      on: {
        submit: async (event) => {
          event.preventDefault();
          try {
            const body = { name: name.value, role: role.value, ...(agent.value ? { agentId: agent.value } : {}) };
            const created = await post<ApiKey & { key: string }>("/v1/keys", body);
            replace(
              status,
              h(
                "div",
                { class: "card secret", role: "status" },
                h("p", null, "The new key, shown only this once: copy it now."),
                h("pre", { tabindex: 0, id: "new-key" }, created.key),
              ),
            );
            await load();
          } catch (error) {
            replace(status, alertBox(errorText(error)));
          }
        },
      },
    },
    h("h2", null, "Create a key"),
    h("div", { class: "field" }, h("label", { for: "key-name" }, "Name"), name),
    h("div", { class: "field" }, h("label", { for: "key-role" }, "Role"), role),
    h("div", { class: "field" }, h("label", { for: "key-agent" }, "Agent (role agent only)"), agent),
    h("button", { type: "submit" }, "Create key"),
  );
  replace(ctx.root, h("h1", null, "Keys"), ctx.can("POST /v1/keys") ? form : null, status, list);
  const load = async () => {
    const page = await get<Page<ApiKey>>("/v1/keys?limit=100");
    replace(
      list,
      table(
        "Keys",
        ["Name", "Prefix", "Role", "Created", "Last used", "State", ""],
        page.items.map((key) => [
          h("span", null, key.name),
          h("code", null, key.prefix),
          h("span", null, key.role, key.agentId ? ` (${key.agentId})` : ""),
          time(key.createdAt),
          time(key.lastUsedAt),
          badge(key.revokedAt ? "revoked" : "active"),
          !key.revokedAt && key.id !== ctx.me.keyId && ctx.can("DELETE /v1/keys/{id}")
            ? confirmButton(
                `Revoke ${key.name}…`,
                `Revoke ${key.name}? Requests with it are refused from now on.`,
                "Revoke key",
                async () => {
                  await api("DELETE", `/v1/keys/${encodeURIComponent(key.id)}`);
                  await load();
                  return `${key.name} revoked.`;
                },
                status,
              )
            : h("span"),
        ]),
      ),
    );
  };
  await load();
}

interface AuditRecord {
  id: string;
  at: string;
  keyId: string | null;
  role: string | null;
  method: string;
  route: string;
  targetId: string | null;
  status: number;
  outcome: string;
  count: number;
}

/**
 * The audit trail (admin), newest first, filtered by actor (key) and action (method and route) on the server: a
 * filtered page may hold fewer records than asked for (the server reads a bounded share of the trail per request), so
 * "Older" follows its cursor.
 */
export async function auditPage(ctx: PageContext) {
  ctx.title("Audit");
  const actor = ctx.query.get("actor") ?? undefined;
  const action = ctx.query.get("action") ?? undefined;
  const cursor = ctx.query.get("cursor") ?? undefined;
  const [page, keys] = await Promise.all([
    get<Page<AuditRecord>>(`/v1/audit${qs({ actor, action, cursor, limit: 100 })}`),
    get<Page<ApiKey>>("/v1/keys?limit=100").catch(() => ({ items: [] as ApiKey[], nextCursor: null })),
  ]);
  const actors = [...new Set([...keys.items.map((k) => k.id), ...(actor ? [actor] : [])])];
  // The actions a request can be recorded under: every route that changes something.
  const actions = [...new Set([...ctx.me.can.filter((r) => !r.startsWith("GET ")), ...(action ? [action] : [])])];
  const rows = page.items;
  const next = new URLSearchParams(ctx.query);
  if (page.nextCursor) next.set("cursor", page.nextCursor);
  const first = new URLSearchParams(ctx.query);
  first.delete("cursor");
  replace(
    ctx.root,
    h("h1", null, "Audit"),
    h(
      "div",
      { class: "filters" },
      filterSelect("Actor", "actor", actors, withoutCursor(ctx.query), "audit"),
      filterSelect("Action", "action", actions.sort(), withoutCursor(ctx.query), "audit"),
    ),
    table(
      "Audit records",
      ["When", "Actor", "Action", "Target", "Status", "Outcome", "Count"],
      rows.map((r) => [
        time(r.at),
        h("span", null, r.keyId ?? "—", r.role ? ` (${r.role})` : ""),
        h("code", null, `${r.method} ${r.route}`),
        h("span", null, r.targetId ?? ""),
        h("span", null, String(r.status)),
        badge(r.outcome),
        h("span", null, String(r.count)),
      ]),
    ),
    (actor || action) && page.nextCursor && rows.length < 100
      ? h(
          "p",
          { class: "muted", id: "audit-partial" },
          "The server reads a bounded part of the trail per page when filtering: older matching records may follow.",
        )
      : null,
    h(
      "p",
      { class: "pager" },
      cursor ? h("a", { href: `#/audit?${first.toString()}` }, "Newest") : null,
      " ",
      page.nextCursor ? h("a", { href: `#/audit?${next.toString()}` }, "Older") : null,
    ),
  );
}

/** The query without its cursor: a new filter starts from the newest records. */
function withoutCursor(query: URLSearchParams) {
  const copy = new URLSearchParams(query);
  copy.delete("cursor");
  return copy;
}
