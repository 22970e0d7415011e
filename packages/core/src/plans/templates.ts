/**
 * References from a step's params to earlier steps' results: `"{{steps.<id>.result.<path>}}"`. A string that
 * is exactly one reference becomes the referenced value itself (object, number…); references inside a longer
 * string are replaced by their text. Resolved when the step is dispatched.
 */
const REFERENCE = /\{\{\s*steps\.([a-z][a-z0-9_-]*)\.result((?:\.[A-Za-z0-9_$-]+)*)\s*\}\}/g;
const WHOLE = /^\{\{\s*steps\.([a-z][a-z0-9_-]*)\.result((?:\.[A-Za-z0-9_$-]+)*)\s*\}\}$/;

export interface Reference {
  stepId: string;
  /** Path inside the result; empty for the whole result. */
  path: string[];
  /** Where the reference is in the params, e.g. `params.to.0`. */
  at: string;
}

export interface TemplateProblem {
  path: string;
  message: string;
}

const pathOf = (segments: string) => segments.split(".").filter(Boolean);

/** Calls `visit` for every string in a JSON value, with its path. */
function eachString(value: unknown, at: string, visit: (text: string, at: string) => void) {
  if (typeof value === "string") visit(value, at);
  else if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) eachString(item, `${at}.${i}`, visit);
  } else if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) eachString(item, `${at}.${key}`, visit);
  }
}

/** Every reference in a step's params, and the `{{…}}` that are not references (a likely typo). */
export function scan(params: unknown): { references: Reference[]; problems: TemplateProblem[] } {
  const references: Reference[] = [];
  const problems: TemplateProblem[] = [];
  eachString(params, "params", (text, at) => {
    for (const match of text.matchAll(REFERENCE)) {
      references.push({ stepId: match[1] ?? "", path: pathOf(match[2] ?? ""), at });
    }
    const leftover = text.replace(REFERENCE, "");
    if (/\{\{[\s\S]*?\}\}/.test(leftover)) {
      problems.push({
        path: at,
        message: "has a {{…}} that is not a reference; write {{steps.<stepId>.result.<path>}}",
      });
    }
  });
  return { references, problems };
}

/** Whether a value is a string holding a reference (its type is known only at dispatch). */
export const holdsReference = (value: unknown): boolean =>
  typeof value === "string" && new RegExp(REFERENCE.source).test(value);

export class UnresolvedReference extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnresolvedReference";
  }
}

function lookup(results: ReadonlyMap<string, unknown>, stepId: string, path: string[], template: string): unknown {
  if (!results.has(stepId)) throw new UnresolvedReference(`${template}: step '${stepId}' has no result`);
  let value: unknown = results.get(stepId);
  for (const segment of path) {
    if (value !== null && typeof value === "object" && Object.hasOwn(value, segment)) {
      value = (value as Record<string, unknown>)[segment];
    } else {
      throw new UnresolvedReference(`${template}: the result of step '${stepId}' has no '${path.join(".")}'`);
    }
  }
  if (value === undefined) throw new UnresolvedReference(`${template}: the value is undefined`);
  return value;
}

/** Params with every reference replaced by the results given (by step id). */
export function resolve(params: unknown, results: ReadonlyMap<string, unknown>): unknown {
  if (typeof params === "string") {
    const whole = params.match(WHOLE);
    if (whole) return lookup(results, whole[1] ?? "", pathOf(whole[2] ?? ""), params);
    return params.replace(REFERENCE, (template, stepId: string, segments: string) => {
      const value = lookup(results, stepId, pathOf(segments), template);
      return typeof value === "string" ? value : JSON.stringify(value);
    });
  }
  if (Array.isArray(params)) return params.map((item) => resolve(item, results));
  if (params && typeof params === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(params)) {
      Object.defineProperty(out, key, { value: resolve(value, results), enumerable: true, writable: true });
    }
    return out;
  }
  return params;
}
