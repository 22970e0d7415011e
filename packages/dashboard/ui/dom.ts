/** A tiny DOM builder: `h("a", { href }, "text", child)`; no virtual DOM, pages re-render their own section. */
type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, unknown> & { on?: Record<string, (event: Event) => void> };

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (name === "on") {
      for (const [type, handler] of Object.entries(value as Record<string, (event: Event) => void>)) {
        el.addEventListener(type, handler);
      }
    } else if (value === true) el.setAttribute(name, "");
    else if (value !== false && value !== undefined && value !== null) el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `el` holds. */
export function replace(el: Element, ...children: Child[]) {
  el.replaceChildren();
  append(el, children);
}

/** A relative time: "12 s ago", "3 min ago", or the date. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return "—";
  if (s < 0) return `in ${duration(-s)}`;
  return `${duration(s)} ago`;
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

export const time = (iso: string | null | undefined) =>
  iso ? h("time", { datetime: iso, title: iso }, ago(iso)) : h("span", null, "—");

/** A status as a coloured badge (the colour is never the only cue: the word is there). */
export const badge = (status: string) =>
  h("span", { class: `badge s-${status.replace(/[^a-z_]/g, "")}` }, status.replace("_", " "));

export const json = (value: unknown) => h("pre", { class: "json", tabindex: 0 }, JSON.stringify(value, null, 2));

/** A message in words for an error from the API or the network. */
export function alertBox(message: string) {
  return h("div", { class: "alert", role: "alert" }, message);
}
