import { ApiError, get } from "../api.js";
import { alertBox, h, replace } from "../dom.js";
import type { SchemaForm } from "../form.js";
import type { Agent, CostEstimate, Page } from "../types.js";

/** Text of any error, in words. */
export const errorText = (error: unknown) =>
  error instanceof ApiError ? error.text : `Something went wrong: ${String(error)}`;

/**
 * A button that runs `action`, disabled while it runs, and shows what came of it in `status` (an error in words, or
 * `done`'s text).
 */
export function actionButton(
  label: string,
  action: () => Promise<string | undefined>,
  options: { status: HTMLElement; danger?: boolean; id?: string },
) {
  const button = h("button", { type: "button", class: options.danger ? "danger" : "", id: options.id }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(options.status);
    try {
      const done = await action();
      if (done) replace(options.status, h("p", { class: "ok", role: "status" }, done));
    } catch (error) {
      replace(options.status, alertBox(errorText(error)));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** A button that first asks: it reveals `question` with a confirm and a cancel button. */
export function confirmButton(
  label: string,
  question: string,
  confirmLabel: string,
  action: () => Promise<string | undefined>,
  status: HTMLElement,
) {
  const box = h("div", { class: "confirm", hidden: true, role: "group", "aria-label": label });
  const open = h("button", { type: "button", class: "danger" }, label);
  open.addEventListener("click", () => {
    const close = () => {
      box.hidden = true;
      open.focus();
    };
    const cancel = h("button", { type: "button", on: { click: close } }, "Cancel");
    const confirm = actionButton(
      confirmLabel,
      async () => {
        box.hidden = true;
        return action();
      },
      { status, danger: true },
    );
    replace(box, h("p", null, question), confirm, " ", cancel);
    box.hidden = false;
    confirm.focus();
  });
  return h("span", null, open, box);
}

/** A table with a caption (for screen readers) and headers. */
export function table(caption: string, headers: string[], rows: Node[][]) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      null,
      h("caption", { class: "sr-only" }, caption),
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          headers.map((name) => h("th", { scope: "col" }, name)),
        ),
      ),
      h(
        "tbody",
        null,
        rows.length === 0
          ? h("tr", null, h("td", { colspan: headers.length, class: "muted" }, "Nothing here."))
          : rows.map((cells) =>
              h(
                "tr",
                null,
                cells.map((cell) => h("td", null, cell)),
              ),
            ),
      ),
    ),
  );
}

/** A select bound to a query parameter of the current route; changing it navigates. */
export function filterSelect(label: string, name: string, options: string[], query: URLSearchParams, base: string) {
  const id = `filter-${name}`;
  const select = h(
    "select",
    {
      id,
      name,
      on: {
        change: () => {
          const next = new URLSearchParams(query);
          if (select.value) next.set(name, select.value);
          else next.delete(name);
          const text = next.toString();
          location.hash = `#/${base}${text ? `?${text}` : ""}`;
        },
      },
    },
    h("option", { value: "" }, "all"),
    options.map((option) => h("option", { value: option, selected: query.get(name) === option }, option)),
  );
  return h("span", { class: "filter" }, h("label", { for: id }, label), select);
}

/** Calls `reload` (at most every 500 ms) when the feed brings events `matches` accepts. */
export function reloadOn<T>(
  ctx: { onFeed: (listener: (events: T[]) => void) => void },
  matches: (event: T) => boolean,
  reload: () => Promise<void>,
) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  ctx.onFeed((events) => {
    if (!events.some(matches)) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload().catch(() => {}), 300);
  });
}

/** The "Agent" filter of a list page, over the agents registered now (none offered if they cannot be read). */
export async function agentFilter(query: URLSearchParams, base: string) {
  const agents = await get<Page<Agent>>("/v1/agents?limit=100").catch(() => ({ items: [] as Agent[] }));
  return filterSelect(
    "Agent",
    "agentId",
    agents.items.map((agent) => agent.id),
    query,
    base,
  );
}

/**
 * A form around a generated params form: on submit its params are checked (the first invalid field takes focus),
 * then `send` runs with the button disabled; an error from the API is shown in words and on the fields it names.
 */
export function paramsForm(
  options: {
    params: () => SchemaForm | undefined;
    submit: HTMLButtonElement;
    message: HTMLElement;
    send: (params: unknown) => Promise<void>;
    class?: string;
  },
  ...children: Array<Node | null | undefined>
) {
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    const form = options.params();
    const values = form?.read();
    if (form && values === undefined) return;
    options.submit.disabled = true;
    replace(options.message);
    try {
      await options.send(values);
    } catch (error) {
      if (error instanceof ApiError) form?.showIssues(error.issues);
      replace(options.message, alertBox(errorText(error)));
    } finally {
      options.submit.disabled = false;
    }
  };
  return h("form", { class: options.class ?? "card", novalidate: true, on: { submit: onSubmit } }, ...children);
}

/** The words for each item of a cost estimate (the API's `cost.items`). */
const COST_ITEMS: Record<string, string> = {
  apiGateway: "API Gateway",
  lambdaRequests: "Lambda requests",
  lambdaDuration: "Lambda duration",
  dynamodbWrites: "DynamoDB writes",
  dynamodbReads: "DynamoDB reads",
  sqs: "SQS",
  stepFunctions: "Step Functions",
  logs: "CloudWatch Logs",
  s3: "S3",
  xray: "X-Ray",
};

/** US dollars per million, two decimals: what a million of this would cost. */
const perMillion = (usd: number) => `$${(usd * 1e6).toFixed(2)}`;

/**
 * A task's or plan's estimated AWS cost as facts (`dt`/`dd`): the total and the same per million, with the items
 * (largest first) and the estimate's basis in a disclosure.
 */
export function costFacts(cost: CostEstimate | undefined) {
  if (!cost) return null;
  const items = Object.entries(cost.items)
    .filter((entry): entry is [string, number] => typeof entry[1] === "number" && entry[1] > 0)
    .sort((a, b) => b[1] - a[1]);
  return [
    h("dt", null, "Cost (estimate)"),
    h(
      "dd",
      { id: "cost" },
      h(
        "details",
        null,
        h("summary", null, `$${cost.usd.toPrecision(3)} · ${perMillion(cost.usd)} per million like it`),
        h(
          "table",
          { class: "cost" },
          h("caption", { class: "sr-only" }, "Cost by item, US dollars per million"),
          h(
            "thead",
            null,
            h("tr", null, h("th", { scope: "col" }, "Item"), h("th", { scope: "col" }, "$ per million")),
          ),
          h(
            "tbody",
            null,
            items.map(([item, usd]) =>
              h("tr", null, h("th", { scope: "row" }, COST_ITEMS[item] ?? item), h("td", null, perMillion(usd))),
            ),
          ),
        ),
        h("p", { class: "muted" }, cost.basis),
      ),
    ),
  ];
}
