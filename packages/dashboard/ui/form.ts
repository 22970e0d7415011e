import { h, replace } from "./dom.js";
import type { ParamsSchema } from "./types.js";

/**
 * A form generated from an action's params schema: required fields, enums, numbers, booleans, arrays and nested
 * objects; a JSON editor for what it cannot draw (and on request). Checks what the schema says before sending, and
 * shows the server's messages on the right field.
 */
export interface SchemaForm {
  element: HTMLElement;
  /** The value, or undefined when a field is invalid (its message is shown). */
  read(): unknown | undefined;
  /** Shows messages by path (`ms`, `to.0`); those without a field go to the form's own message. */
  showIssues(issues: Array<{ path: string; message: string }>): void;
}

interface Field {
  read(errors: Map<string, string>): unknown;
  element: HTMLElement;
}

const typeOf = (schema: ParamsSchema) =>
  (Array.isArray(schema.type) ? schema.type[0] : schema.type) ?? (schema.properties ? "object" : undefined);
const idOf = (path: string[]) => `f-${path.join("-") || "root"}`;

function messageSlot(path: string[]) {
  return h("span", { class: "field-error", id: `${idOf(path)}-error`, "data-path": path.join(".") });
}

function labelText(name: string, required: boolean, schema: ParamsSchema) {
  return [
    name,
    required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null,
    schema.description ? h("span", { class: "muted" }, ` — ${schema.description}`) : null,
  ];
}

function check(schema: ParamsSchema, value: unknown): string | undefined {
  if (schema.enum && !schema.enum.some((v) => v === value)) return `must be one of ${schema.enum.join(", ")}`;
  if (typeof value === "number") {
    if (typeOf(schema) === "integer" && !Number.isInteger(value)) return "must be a whole number";
    if (schema.minimum !== undefined && value < schema.minimum) return `must be at least ${schema.minimum}`;
    if (schema.maximum !== undefined && value > schema.maximum) return `must be at most ${schema.maximum}`;
  }
  if (typeof value === "string") {
    if (schema.minLength !== undefined && value.length < schema.minLength)
      return `must be at least ${schema.minLength} characters`;
    if (schema.maxLength !== undefined && value.length > schema.maxLength)
      return `must be at most ${schema.maxLength} characters`;
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) return `must match ${schema.pattern}`;
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      return `needs at least ${schema.minItems} items`;
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      return `takes at most ${schema.maxItems} items`;
  }
  return undefined;
}

function scalarField(name: string, path: string[], schema: ParamsSchema, required: boolean, initial?: unknown): Field {
  const id = idOf(path);
  const start = initial === undefined ? schema.default : initial;
  const type = typeOf(schema);
  const slot = messageSlot(path);
  const common = { id, name: path.join("."), "aria-describedby": `${id}-error`, required };
  let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  if (schema.enum) {
    input = h(
      "select",
      common,
      required ? null : h("option", { value: "" }, "(none)"),
      schema.enum.map((option) =>
        h("option", { value: JSON.stringify(option), selected: schema.default === option }, String(option)),
      ),
    );
  } else if (type === "boolean") {
    input = h("input", { ...common, type: "checkbox", required: false, checked: start === true });
  } else if (type === "number" || type === "integer") {
    input = h("input", {
      ...common,
      type: "number",
      step: type === "integer" ? "1" : "any",
      min: schema.minimum,
      max: schema.maximum,
      value: typeof start === "number" ? start : undefined,
    });
  } else if (type === "string" && (schema.maxLength ?? 1000) > 200) {
    input = h("textarea", { ...common, rows: 3 }, typeof start === "string" ? start : "");
  } else {
    input = h("input", {
      ...common,
      type: "text",
      value: typeof schema.default === "string" ? schema.default : undefined,
    });
  }
  const element = h(
    "div",
    { class: type === "boolean" ? "field check" : "field" },
    type === "boolean"
      ? [input, h("label", { for: id }, labelText(name, false, schema))]
      : [h("label", { for: id }, labelText(name, required, schema)), input],
    slot,
  );
  return {
    element,
    read(errors) {
      let value: unknown;
      if (input instanceof HTMLInputElement && input.type === "checkbox") value = input.checked;
      else if (input.value === "") value = undefined;
      else if (schema.enum) value = JSON.parse(input.value);
      else if (type === "number" || type === "integer") value = Number(input.value);
      else value = input.value;
      const message = value === undefined ? (required ? "is required" : undefined) : check(schema, value);
      if (message) errors.set(path.join("."), message);
      return value;
    },
  };
}

function arrayField(name: string, path: string[], schema: ParamsSchema, required: boolean, initial?: unknown): Field {
  const items: Field[] = [];
  const list = h("ol", { class: "array-items" });
  const itemSchema = schema.items ?? { type: "string" };
  const add = (focus: boolean, value?: unknown) => {
    const index = items.length;
    const field = build(`${name} ${index + 1}`, [...path, String(index)], itemSchema, true, value);
    items.push(field);
    const remove = h(
      "button",
      { type: "button", class: "link", "aria-label": `Remove ${name} ${index + 1}` },
      "Remove",
    );
    const li = h("li", null, field.element, remove);
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(field), 1);
      li.remove();
    });
    list.append(li);
    if (focus) li.querySelector<HTMLElement>("input, select, textarea")?.focus();
  };
  const element = h(
    "fieldset",
    { class: "field" },
    h("legend", null, labelText(name, required, schema)),
    list,
    h("button", { type: "button", on: { click: () => add(true) } }, `Add ${name}`),
    messageSlot(path),
  );
  if (Array.isArray(initial)) for (const value of initial) add(false, value);
  else if (required && (schema.minItems ?? 1) > 0) add(false);
  return {
    element,
    read(errors) {
      const values = items.map((item) => item.read(errors));
      const message = required || values.length > 0 ? check(schema, values) : undefined;
      if (message) errors.set(path.join("."), message);
      return values.length === 0 && !required ? undefined : values;
    },
  };
}

function objectField(name: string, path: string[], schema: ParamsSchema, required: boolean, initial?: unknown): Field {
  const requiredNames = new Set(schema.required ?? []);
  const values = initial !== null && typeof initial === "object" ? (initial as Record<string, unknown>) : {};
  const fields = Object.entries(schema.properties ?? {}).map(
    ([prop, propSchema]) =>
      [prop, build(prop, [...path, prop], propSchema, requiredNames.has(prop), values[prop])] as const,
  );
  const inner = fields.map(([, field]) => field.element);
  const element =
    path.length === 0
      ? h("div", null, inner)
      : h(
          "fieldset",
          { class: "field" },
          h("legend", null, labelText(name, required, schema)),
          inner,
          messageSlot(path),
        );
  return {
    element,
    read(errors) {
      const value: Record<string, unknown> = {};
      for (const [prop, field] of fields) {
        const v = field.read(errors);
        if (v !== undefined) value[prop] = v;
      }
      return path.length > 0 && !required && Object.keys(value).length === 0 ? undefined : value;
    },
  };
}

function jsonField(name: string, path: string[], schema: ParamsSchema, required: boolean, initial?: unknown): Field {
  const id = idOf(path);
  const area = h(
    "textarea",
    { id, rows: 8, class: "code", spellcheck: "false", "aria-describedby": `${id}-error` },
    initial === undefined ? "" : JSON.stringify(initial, null, 2),
  );
  const element = h(
    "div",
    { class: "field" },
    h("label", { for: id }, labelText(`${name} (JSON)`, required, schema)),
    area,
    messageSlot(path),
  );
  return {
    element,
    read(errors) {
      if (area.value.trim() === "") {
        if (required) errors.set(path.join("."), "is required");
        return undefined;
      }
      try {
        return JSON.parse(area.value);
      } catch (error) {
        errors.set(path.join("."), `is not valid JSON: ${(error as Error).message}`);
        return undefined;
      }
    },
  };
}

function build(name: string, path: string[], schema: ParamsSchema, required: boolean, initial?: unknown): Field {
  const type = typeOf(schema);
  if (type === "object" && schema.properties && Object.keys(schema.properties).length > 0) {
    return objectField(name, path, schema, required, initial);
  }
  if (type === "array" && typeOf(schema.items ?? { type: "string" }) !== "array") {
    return arrayField(name, path, schema, required, initial);
  }
  if (["string", "number", "integer", "boolean"].includes(type ?? "") || schema.enum) {
    return scalarField(name, path, schema, required, initial);
  }
  return jsonField(name, path, schema, required, initial);
}

export function schemaForm(schema: ParamsSchema, initial?: unknown): SchemaForm {
  const holder = h("div");
  const general = h("div", { class: "form-message", "aria-live": "polite" });
  const drawable = Boolean(schema.properties && Object.keys(schema.properties).length > 0);
  let asJson = !drawable;
  let field: Field;
  const toggle = h("button", { type: "button", class: "link" });
  const draw = (value?: unknown) => {
    field = asJson
      ? jsonField("params", [], schema, false, value ?? initial ?? {})
      : build("params", [], schema, true, value ?? initial);
    replace(holder, field.element);
    toggle.textContent = asJson ? "Use the form" : "Edit as JSON";
    toggle.hidden = !drawable;
  };
  toggle.addEventListener("click", () => {
    const errors = new Map<string, string>();
    const value = field.read(errors);
    asJson = !asJson;
    draw(value);
  });
  draw();
  const element = h("div", { class: "schema-form" }, h("p", null, toggle), holder, general);
  const showIssues = (issues: Array<{ path: string; message: string }>) => {
    for (const slot of element.querySelectorAll(".field-error")) slot.textContent = "";
    for (const input of element.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const loose: string[] = [];
    for (const issue of issues) {
      const path = issue.path.replace(/^(body\.)?params\.?/, "");
      const slot =
        element.querySelector<HTMLElement>(`.field-error[data-path="${CSS.escape(path)}"]`) ??
        (asJson ? element.querySelector<HTMLElement>(".field-error") : null);
      if (slot) {
        slot.textContent = `${asJson && path ? `${path}: ` : ""}${issue.message}`;
        document.getElementById(slot.id.replace(/-error$/, ""))?.setAttribute("aria-invalid", "true");
      } else loose.push(`${issue.path}: ${issue.message}`);
    }
    replace(general, loose.length > 0 ? h("div", { class: "alert", role: "alert" }, loose.join("\n")) : null);
  };
  return {
    element,
    read() {
      const errors = new Map<string, string>();
      const value = field.read(errors);
      showIssues([...errors].map(([path, message]) => ({ path, message })));
      if (errors.size > 0) {
        element.querySelector<HTMLElement>("[aria-invalid]")?.focus();
        return undefined;
      }
      return value;
    },
    showIssues,
  };
}
