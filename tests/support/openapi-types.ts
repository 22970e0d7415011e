/**
 * TypeScript types from an OpenAPI 3.1 document's component schemas: `export interface Schemas { Task: {...}; … }`,
 * a `$ref` becoming `Schemas["Name"]`. It covers the JSON Schema the API's document uses (types, nullable type lists,
 * properties and required, items, records, enum, const, oneOf, anyOf, allOf, $ref) and throws on anything else, so
 * a construct it does not know fails loudly rather than turning into `unknown`. (openapi-typescript needs the
 * TypeScript 5 compiler API, which TypeScript 7 no longer ships.)
 */
type Schema = Record<string, unknown>;

/** Keywords that only constrain values or describe them: no bearing on the type. */
const IGNORED = new Set(
  (
    "description default example examples format pattern minLength maxLength minimum maximum exclusiveMinimum " +
    "exclusiveMaximum minItems maxItems multipleOf discriminator title deprecated readOnly writeOnly propertyNames"
  ).split(" "),
);
/** Keywords that make the type. */
const TYPING = "$ref const enum oneOf anyOf allOf type properties required additionalProperties items".split(" ");
const KNOWN = new Set([...IGNORED, ...TYPING]);

const literal = (value: unknown) => JSON.stringify(value);
const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));
const union = (parts: string[]) => (parts.length === 1 ? (parts[0] ?? "never") : `(${parts.join(" | ")})`);

function typeOf(schema: unknown, where: string): string {
  if (schema === true || (typeof schema === "object" && schema !== null && Object.keys(schema).length === 0)) {
    return "unknown";
  }
  if (typeof schema !== "object" || schema === null) throw new Error(`${where}: not a schema`);
  const s = schema as Schema;
  const unknownKeys = Object.keys(s).filter((k) => !KNOWN.has(k));
  if (unknownKeys.length > 0) throw new Error(`${where}: keywords not supported: ${unknownKeys.join(", ")}`);
  if (typeof s.$ref === "string") {
    const name = /^#\/components\/schemas\/(.+)$/.exec(s.$ref)?.[1];
    if (!name) throw new Error(`${where}: $ref ${s.$ref} is not a component schema`);
    return `Schemas[${literal(name)}]`;
  }
  if ("const" in s) return literal(s.const);
  if (Array.isArray(s.enum)) return union(s.enum.map(literal));
  for (const combinator of ["oneOf", "anyOf"] as const) {
    const options = s[combinator];
    if (Array.isArray(options)) return union(options.map((o, i) => typeOf(o, `${where}.${combinator}[${i}]`)));
  }
  if (Array.isArray(s.allOf)) return `(${s.allOf.map((o, i) => typeOf(o, `${where}.allOf[${i}]`)).join(" & ")})`;
  const types = Array.isArray(s.type) ? s.type : s.type === undefined ? [] : [s.type];
  if (types.length === 0) {
    if (s.properties || s.additionalProperties !== undefined) return objectOf(s, where);
    // Only a description (or other annotations): any value.
    return "unknown";
  }
  return union(
    types.map((t) => {
      switch (t) {
        case "string":
          return "string";
        case "number":
        case "integer":
          return "number";
        case "boolean":
          return "boolean";
        case "null":
          return "null";
        case "array":
          return `Array<${s.items === undefined ? "unknown" : typeOf(s.items, `${where}.items`)}>`;
        case "object":
          return objectOf(s, where);
        default:
          throw new Error(`${where}: type ${String(t)} is not supported`);
      }
    }),
  );
}

/** An object: its properties (optional unless required); a schema of additional properties as an index signature. */
function objectOf(s: Schema, where: string): string {
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const properties = Object.entries((s.properties ?? {}) as Record<string, unknown>).map(
    ([name, property]) =>
      `${key(name)}${required.has(name) ? "" : "?"}: ${typeOf(property, `${where}.properties.${name}`)};`,
  );
  const extra = s.additionalProperties;
  if (typeof extra === "object" && extra !== null) {
    properties.push(`[key: string]: ${typeOf(extra, `${where}.additionalProperties`)};`);
  } else if (properties.length === 0 && extra !== false) {
    properties.push("[key: string]: unknown;");
  }
  return `{ ${properties.join(" ")} }`;
}

/** The module text: `export interface Schemas { … }` with one member per component schema. */
export function schemaTypes(document: { components?: { schemas?: Record<string, unknown> } }): string {
  const schemas = document.components?.schemas ?? {};
  const members = Object.entries(schemas).map(([name, schema]) => `  ${key(name)}: ${typeOf(schema, name)};`);
  return `// Generated from the OpenAPI document.\nexport interface Schemas {\n${members.join("\n")}\n}\n`;
}
