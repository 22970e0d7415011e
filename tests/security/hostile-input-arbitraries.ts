import { PARAMS_SCHEMA_KEYWORDS } from "@nexus/core";
/**
 * Generators of hostile requests for the write routes of the API. Every request they make is invalid by
 * construction (a wrong or missing credential, a refused content type, a malformed, oversized or
 * schema-violating body, or a path id that names nothing that can change), so any 2xx is a real failure.
 *
 * The validity rules below are written out from the API's documented contract (not imported from the
 * product), so that a too-lenient product schema shows up as a 2xx instead of being filtered away.
 */
import fc from "fast-check";
import { append, Entries, type Json, nested, type Obj, omit, Raw, set, toJson } from "./hostile-input-json.js";

export type RouteName =
  | "POST /v1/agents"
  | "POST /v1/tasks"
  | "POST /v1/tasks/{id}/cancel"
  | "POST /v1/plans"
  | "POST /v1/plans/{id}/cancel"
  | "POST /v1/plans/{id}/retry"
  | "POST /v1/plans/{id}/steps/{stepId}/approve"
  | "POST /v1/keys"
  | "DELETE /v1/keys/{id}";

/** What the test set up before the properties run: credentials and objects worth protecting. */
export interface Fixtures {
  adminToken: string;
  operatorToken: string;
  viewerToken: string;
  agentToken: string;
  revokedToken: string;
  expiredToken: string;
  /** Ids of the real keys in the table (their secrets are not known to the attacker). */
  keyIds: readonly string[];
  revokedKeyId: string;
  queuedTaskId: string;
  cancelledTaskId: string;
  strictAgent: string;
  seedIdempotencyKey: string;
  /** A custom agent taken out of service. */
  inactiveAgent: string;
  /** A plan in each state, settled before the properties run; their steps are named in FIXTURE_STEPS. */
  plans: {
    /** waiting_approval at `gate` (its approvers: another key only); `after` (diag echo) waits for it. */
    gatedId: string;
    /** running: `work` (diag echo) is queued, and no worker runs in this test. */
    runningId: string;
    /** succeeded: `pause`, a 1 s wait. */
    succeededId: string;
    /** failed: its `gate` was rejected. */
    failedId: string;
    /** cancelled while `pause` (a long wait) waited. */
    cancelledId: string;
  };
}

const MAX_BODY_BYTES = 256 * 1024;

/** One generated request, with the statuses it must get when they are certain (otherwise any 4xx). */
export class HostileRequest {
  constructor(
    readonly route: RouteName,
    readonly family: string,
    readonly method: "POST" | "DELETE",
    readonly path: string,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: string | Uint8Array | undefined,
    readonly expected?: readonly number[],
  ) {}

  init(): RequestInit {
    return {
      method: this.method,
      headers: { ...this.headers },
      ...(this.body === undefined ? {} : { body: this.body }),
    };
  }

  /** All the text the client sent: what the server may legitimately echo back. */
  sentText(): string {
    const body = typeof this.body === "string" ? this.body : this.body ? new TextDecoder().decode(this.body) : "";
    let decodedPath = this.path;
    try {
      decodedPath = decodeURIComponent(this.path);
    } catch {
      // keep the raw path
    }
    return [this.path, decodedPath, ...Object.values(this.headers), body].join("\n");
  }

  describe(max = 600): string {
    const cut = (s: string) => (s.length > max ? `${s.slice(0, max / 2)}…(${s.length} chars)…${s.slice(-max / 2)}` : s);
    const body =
      this.body === undefined
        ? "(no body)"
        : typeof this.body === "string"
          ? JSON.stringify(cut(this.body))
          : `bytes ${JSON.stringify(cut(new TextDecoder().decode(this.body)))}`;
    const headers = Object.fromEntries(Object.entries(this.headers).map(([k, v]) => [k, cut(v)]));
    return `[${this.family}] ${this.method} ${cut(this.path)} headers=${JSON.stringify(headers)} body=${body}${
      this.expected ? ` expected=${this.expected.join("|")}` : ""
    }`;
  }

  [fc.toStringMethod](): string {
    return this.describe();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Validity rules of the contract, to keep generated values on the invalid side.

const SLUG = /^[a-z][a-z0-9-]*[a-z0-9]$/;
export const isAgentId = (s: string) => s.length >= 2 && s.length <= 40 && SLUG.test(s) && !s.endsWith("-dlq");
export const isActionName = (s: string) => s.length >= 1 && s.length <= 64 && /^[a-z][a-z0-9_]*$/.test(s);
const isIdempotencyKey = (s: string) => s.length >= 1 && s.length <= 128 && /^[\x21-\x7e]+$/.test(s);
const ROLES = ["admin", "operator", "viewer", "agent"];
/** What String.prototype.trim removes: a name made only of these is blank. */
const TRIMMED = [" ", "\t", "\n", "\v", "\f", "\r", "\u00a0", "\u1680", "\u2003", "\u2028", "\u2029", "\u202f"];
const TRIMMED_MORE = [...TRIMMED, "\u205f", "\u3000", "\ufeff", "\u2000", "\u200a"];

// ---------------------------------------------------------------------------------------------------------
// Hostile building blocks.

export const UNICODE_EDGE = [
  "😀",
  "👩‍👩‍👧‍👦",
  "🏳️‍🌈",
  "\u202e", // right-to-left override
  "\u200f", // right-to-left mark
  "\u061c",
  "مرحبا",
  "שלום",
  "\u0000",
  "\ud800", // lone high surrogate
  "\udfff", // lone low surrogate
  "\udbff\udfff",
  "\u200b", // zero-width space
  "\u200d", // zero-width joiner
  "\ufeff",
  "\u2060",
  "e\u0301",
  "ｄｉａｇ",
  "dіag", // Cyrillic і
  "\u0085",
  "\u2028",
  "\uffff",
  "\ufffe",
  "\\",
  '"',
  "'",
  "\n",
  "\t",
  "\r\n",
  "\u001b[31m",
];

export const INJECTION = [
  "' OR '1'='1",
  "1; DROP TABLE tasks; --",
  '" OR ""="',
  "admin'--",
  '{"$ne":null}',
  '{"$gt":""}',
  "$where: '1 == 1'",
  "[$ne]=1",
  "'; return true; var x='",
  "TASK#",
  "KEY#bootstrap",
  "AGENT#diag",
  "x#SK",
  ":pk",
  "#pk",
  "attribute_exists(PK)",
  "begins_with(PK, :p)",
  "*",
  "%",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, literal on purpose
  "${7*7}",
  "{{7*7}}",
  "<script>alert(1)</script>",
  "../../etc/passwd",
  "..\\..\\windows\\win.ini",
  "%00",
  "%2e%2e%2f",
  "null",
  "undefined",
  "NaN",
  "true",
  "0",
  "-1",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
];

export const PROTO_KEYS = ["__proto__", "constructor", "prototype"] as const;
/** Names every plain object answers to through its prototype. */
export const OBJECT_PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
/** What a successful pollution would add to every object. */
export const POLLUTION_MARKERS = ["polluted", "isAdmin", "nexusPolluted"] as const;
const pollution: Json = { polluted: "yes", isAdmin: true, nexusPolluted: 1, role: "admin" };

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...UNICODE_EDGE, ...INJECTION),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc
    .array(fc.constantFrom(...UNICODE_EDGE, ...INJECTION, "a", "z", "-", "_", "0"), { minLength: 1, maxLength: 8 })
    .map((parts) => parts.join("")),
);

/**
 * A long string of one unit (possibly multi-byte, escaped or a lone surrogate), at least `min` code points
 * long: zod's max length counts code points, not UTF-16 units. From a few KB to past the body limit.
 */
export const hugeString = (min: number, max: number): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom("x", "😀", "\u0000", "é", "\u202e", '"', "\\", "\ud800"), fc.integer({ min, max }))
    .map(([unit, n]) => unit.repeat(n));

/** Nesting from just past DynamoDB's 32 levels to as deep as fits in (or just past) the body limit. */
export const deep: fc.Arbitrary<Raw> = fc
  .tuple(
    fc.oneof(fc.integer({ min: 33, max: 1_000 }), fc.integer({ min: 1_000, max: 130_000 })),
    fc.constantFrom("array" as const, "object" as const, "mixed" as const),
  )
  .map(([depth, shape]) => nested(depth, shape));

const anyJson = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;

type Kind = "string" | "number" | "boolean" | "array" | "object";
const KINDS: readonly Kind[] = ["string", "number", "boolean", "array", "object"];
const valuesOf: Record<Kind, fc.Arbitrary<Json>> = {
  string: fc.oneof(hostileString, fc.constantFrom("", "10", "true", "null", "[]", "{}")),
  number: fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(new Raw("1e999"), new Raw("-1e999"), new Raw("-0"), new Raw("1E400")),
  ),
  boolean: fc.boolean(),
  array: fc.oneof(fc.array(anyJson, { maxLength: 5 }), fc.constant([])),
  object: fc.oneof(
    fc.dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 4 }) as fc.Arbitrary<Json>,
    fc.constant({}),
  ),
};

/** A value of any type but `expected` (null included: no field of the API is nullable on input). */
export const wrongType = (expected: Kind): fc.Arbitrary<Json> =>
  fc.oneof(fc.constant(null), ...KINDS.filter((k) => k !== expected).map((k) => valuesOf[k]), deep);

/** Strings that are never a valid agent id. */
const invalidAgentId = fc
  .oneof(
    hostileString,
    fc.constantFrom(
      "a",
      "A-b",
      "diag-dlq",
      "strict-agent-dlq",
      "x-",
      "-x",
      "1abc",
      "ab_c",
      "Diag",
      "diag ",
      " diag",
      "DIAG",
    ),
    fc.constantFrom("diag", "strict-agent").chain((id) => fc.constantFrom(...UNICODE_EDGE).map((u) => `${id}${u}`)),
    hugeString(41, 5_000),
  )
  .filter((s) => !isAgentId(s));

/** A well-formed agent id that names no agent. */
const unknownAgentId = fc.stringMatching(/^[a-z0-9]{1,20}$/).map((s) => `ghost${s}`);

const invalidActionName = fc
  .oneof(
    hostileString,
    fc.constantFrom("", "Echo", "ECHO", "echo!", "echo-x", "1echo", "_echo", " echo", "echo "),
    hugeString(65, 3_000),
  )
  .filter((s) => !isActionName(s));

const ALL_ACTION_NAMES = ["echo", "sleep", "fail", "act"];
const unknownActionName = fc.stringMatching(/^[a-z][a-z0-9_]{0,30}$/).filter((s) => !ALL_ACTION_NAMES.includes(s));

/** Keys no write body accepts (they are all strict objects), as the first half of `[key, value]`. */
const unknownKey = (known: readonly string[]) =>
  fc
    .oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom(...INJECTION, ...UNICODE_EDGE))
    .filter((k) => !known.includes(k));

// ---------------------------------------------------------------------------------------------------------
// Headers and the families every route shares.

/** Values a header can carry (a ByteString without NUL, CR or LF). */
const headerSafe = (s: string) => /^[\t\x20-\x7e\x80-\xff]*$/.test(s);
const latin1 = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
    .map((c) => String.fromCharCode(c)),
  maxLength: 80,
});

const noiseHeaders: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      "x-forwarded-for": fc.oneof(latin1, fc.constantFrom("127.0.0.1", "::1, 10.0.0.1", "' OR 1=1", "a".repeat(500))),
      "x-request-id": fc.oneof(latin1, fc.constantFrom("../../etc", "a".repeat(300), "abc-DEF_123=", "<script>")),
      "x-http-method-override": fc.constantFrom("GET", "DELETE", "PUT"),
      "x-nexus-role": fc.constant("admin"),
      cookie: fc.constant("role=admin; session=1"),
    },
    { requiredKeys: [] },
  )
  .map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => headerSafe(v))));

const bearer = (token: string) => `Bearer ${token}`;
const keyAlphabet = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-".split(""));

/** Authorization headers that must be refused with 401 (undefined: no header at all). */
function unauthorized(fx: Fixtures): fc.Arbitrary<string | undefined> {
  const real = new Set([fx.adminToken, fx.operatorToken, fx.viewerToken, fx.agentToken]);
  const flipLast = (t: string) => `${t.slice(0, -1)}${t.endsWith("A") ? "B" : "A"}`;
  return fc
    .oneof(
      fc.constant(undefined),
      fc.constantFrom(
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        `Basic ${Buffer.from(`admin:${fx.adminToken}`).toString("base64")}`,
        `Token ${fx.adminToken}`,
        fx.adminToken,
        `Bearer  ${fx.adminToken}`,
        `Bearer\t${fx.adminToken}`,
        `Bearer ${fx.adminToken}x`,
        `Bearer ${fx.adminToken.slice(0, -1)}`,
        `Bearer ${fx.adminToken} ${fx.adminToken}`,
        `Bearer x, Bearer ${fx.adminToken}`,
        `Bearer ${"A".repeat(513)}`,
        `Bearer nxk_000000000000_${"A".repeat(43)}`,
        `Bearer nxk_bootstrap000_${"A".repeat(43)}`,
        bearer(fx.revokedToken),
        bearer(fx.expiredToken),
        bearer(flipLast(fx.operatorToken)),
        bearer(flipLast(fx.viewerToken)),
        bearer(fx.operatorToken.toUpperCase()),
        bearer(`${fx.operatorToken}\u00e9`),
      ),
      // a real key id with a guessed secret
      fc
        .tuple(
          fc.constantFrom(...fx.keyIds, "000000000000", "bootstrap"),
          fc.array(keyAlphabet, { minLength: 43, maxLength: 43 }),
        )
        .map(([id, secret]) => bearer(`nxk_${id}_${secret.join("")}`)),
      latin1.map((s) => bearer(s)),
      latin1,
    )
    .filter((h) => h === undefined || (headerSafe(h) && !real.has(h.replace(/^bearer /i, "").trim())));
}

/** Keys whose role may not call the route: 403. */
function forbiddenTokens(fx: Fixtures, route: RouteName): string[] {
  const keysRoute = route === "POST /v1/keys" || route === "DELETE /v1/keys/{id}";
  return [fx.viewerToken, fx.agentToken, ...(keysRoute ? [fx.operatorToken] : [])];
}

interface Target {
  method: "POST" | "DELETE";
  path: string;
  body?: string;
}

/**
 * Requests with a valid or invalid target but no right to it: no/bad key (401) or a role the route refuses
 * (403). Bodies are JSON, so the status is certain.
 */
function deniedFamily(fx: Fixtures, route: RouteName, targets: fc.Arbitrary<Target>): fc.Arbitrary<HostileRequest> {
  const json = { "content-type": "application/json" };
  return fc.oneof(
    fc
      .tuple(targets, unauthorized(fx), noiseHeaders)
      .map(
        ([t, auth, noise]) =>
          new HostileRequest(
            route,
            "denied:401",
            t.method,
            t.path,
            { ...noise, ...(t.body === undefined ? {} : json), ...(auth === undefined ? {} : { authorization: auth }) },
            t.body,
            [401],
          ),
      ),
    fc
      .tuple(targets, fc.constantFrom(...forbiddenTokens(fx, route)), noiseHeaders)
      .map(
        ([t, token, noise]) =>
          new HostileRequest(
            route,
            "denied:403",
            t.method,
            t.path,
            { ...noise, ...(t.body === undefined ? {} : json), authorization: bearer(token) },
            t.body,
            [403],
          ),
      ),
  );
}

const BAD_CONTENT_TYPES = [
  "text/plain",
  "text/plain;charset=UTF-8",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=----x",
  "text/json",
  "application/xml",
  "application/jsonx",
  "application/json5",
  "application/javascript",
  "json",
  "application/ json",
  "*/*",
];

/** A body in something else than JSON: 415 before it is even read (valid JSON bodies included). */
function contentTypeFamily(
  fx: Fixtures,
  route: RouteName,
  targets: fc.Arbitrary<Target>,
): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(
      targets,
      fc.oneof(fc.constantFrom(...BAD_CONTENT_TYPES), fc.constant(undefined)),
      noiseHeaders,
      fc.string({ maxLength: 40 }),
    )
    .map(([t, type, noise, text]) => {
      const body = t.body ?? `{"hostile":${JSON.stringify(text)}}`;
      const headers = { ...noise, authorization: bearer(fx.adminToken), ...(type ? { "content-type": type } : {}) };
      // no content-type at all: a byte body (a string body would get text/plain from fetch)
      return new HostileRequest(
        route,
        `content-type:${type ?? "missing"}`,
        t.method,
        t.path,
        headers,
        type ? body : new TextEncoder().encode(body),
        [415],
      );
    });
}

const malformedText = (valid: string): fc.Arbitrary<string> =>
  fc
    .oneof(
      // a proper prefix of an object's JSON is never JSON
      fc.integer({ min: 0, max: Math.max(0, valid.length - 1) }).map((n) => valid.slice(0, n)),
      fc.constantFrom(
        "{",
        "}",
        "{'name':'x'}",
        "{name:1}",
        '{"a":1,}',
        '{"a":[1,2,],}',
        '{"a":NaN}',
        '{"a":Infinity}',
        '{"a":-Infinity}',
        '{"a":undefined}',
        '{"a":01}',
        '{"a":0x10}',
        '{"a":.5}',
        '{"a":"\u0000"}',
        '{"a":"line\nbreak"}',
        '{"a":"\\x41"}',
        '{"a":"\\u12"}',
        "// comment\n{}",
        "/* c */ {}",
        '{"a":1 /* c */}',
        '{"a":1} {"b":2}',
        '{"a":1}}',
        "[",
        '"unterminated',
        "nul",
        "tru",
        "{}garbage",
        "\u0000",
        "<xml/>",
        "a=1&b=2",
      ),
      fc.constant(valid).map((v) => `${v.slice(0, -1)},}`),
      fc.constant(valid).map((v) => `${v.slice(0, -1)},"x":NaN}`),
      fc.constant(valid).map((v) => `// hi\n${v}`),
      fc.constant(valid).map((v) => v.replace(/"/g, "'")),
      fc.constant(valid).map((v) => `${v},`),
      fc.string({ maxLength: 60 }),
    )
    .filter((text) => {
      try {
        JSON.parse(text.replace(/^\ufeff/, ""));
        return false;
      } catch {
        return true;
      }
    });

/** Not JSON although it says so: 400 malformed_json (for routes that read a body). */
function malformedFamily(
  fx: Fixtures,
  route: RouteName,
  validBody: fc.Arbitrary<string>,
  path: string,
): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(validBody.chain(malformedText), noiseHeaders)
    .map(
      ([text, noise]) =>
        new HostileRequest(
          route,
          "malformed-json",
          "POST",
          path,
          { ...noise, authorization: bearer(fx.adminToken), "content-type": "application/json" },
          text,
          [400],
        ),
    );
}

/** Bodies past the 256 KB limit (valid JSON apart from their size): 413, declared or streamed. */
function oversizeFamily(fx: Fixtures, route: RouteName, targets: fc.Arbitrary<Target>): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(
      targets,
      fc.integer({ min: MAX_BODY_BYTES + 1, max: MAX_BODY_BYTES + 150_000 }),
      fc.boolean(),
      fc.constantFrom("application/json", "text/plain"),
    )
    .map(([t, size, declare, type]) => {
      const start = t.body ? `${t.body.slice(0, -1)}${t.body.length > 2 ? "," : ""}"pad":"` : '{"pad":"';
      const body = `${start}${"x".repeat(Math.max(0, size - start.length - 2))}"}`;
      const headers: Record<string, string> = { authorization: bearer(fx.adminToken), "content-type": type };
      if (declare) headers["content-length"] = String(Buffer.byteLength(body));
      return new HostileRequest(
        route,
        `oversize:${declare ? "declared" : "streamed"}`,
        t.method,
        t.path,
        headers,
        body,
        [413],
      );
    });
}

/** Requests whose JSON body is invalid by the route's schema or rules. */
function bodyFamily(
  fx: Fixtures,
  route: RouteName,
  path: string,
  breakers: fc.Arbitrary<Breaker>,
  base: fc.Arbitrary<Obj>,
): fc.Arbitrary<HostileRequest> {
  return fc
    .tuple(
      base,
      breakers,
      noiseHeaders,
      fc.constantFrom("application/json", "application/json; charset=utf-8", "application/vnd.api+json"),
    )
    .map(([b, breaker, noise, type]) => {
      const body = toJson(breaker.apply(freshen(b)));
      const expected =
        Buffer.byteLength(body) > MAX_BODY_BYTES ? [413] : breaker.expected ? [...breaker.expected] : undefined;
      return new HostileRequest(
        route,
        breaker.family,
        "POST",
        path,
        { ...noise, authorization: bearer(fx.adminToken), "content-type": type },
        body,
        expected,
      );
    });
}

/**
 * The base with a suffix no other request has on the names that must be free (agent name, idempotency key).
 * Applied when the request is built, so every value fast-check runs (shrink candidates too) names fresh
 * objects: should a broken request be accepted, the shrunk counterexample still fails for the same reason.
 */
let counter = 0;
export function freshen(base: Obj): Obj {
  const suffix = (counter++).toString(36);
  const fresh: Record<string, Json> = { ...base };
  if (typeof base.name === "string" && base.name.startsWith("hx")) fresh.name = `${base.name}${suffix}`;
  if (typeof base.idempotencyKey === "string") fresh.idempotencyKey = `${base.idempotencyKey}-${suffix}`;
  return fresh;
}

interface Breaker {
  family: string;
  apply(base: Obj): Json;
  expected?: readonly number[];
}

const breaker = <T>(
  family: string,
  values: fc.Arbitrary<T>,
  apply: (base: Obj, value: T) => Json,
  expected?: readonly number[],
) =>
  values.map((value): Breaker => ({ family, apply: (base) => apply(base, value), ...(expected ? { expected } : {}) }));

/** Families every body route shares: not an object, unknown and server-owned keys, prototype keys, duplicates. */
function commonBreakers(known: readonly string[], serverOwned: readonly string[], required: readonly string[]) {
  return [
    breaker(
      "body:not-an-object",
      fc.oneof(fc.constant(null), valuesOf.string, valuesOf.number, valuesOf.boolean, valuesOf.array, deep),
      (_b, v) => v,
      [400],
    ),
    breaker("body:array-of-valid", fc.integer({ min: 1, max: 3 }), (b, n) => Array.from({ length: n }, () => b), [400]),
    breaker("body:empty-object", fc.constant(null), () => ({}), [400]),
    // (a route whose required fields depend on each other, like POST /v1/plans, writes its own)
    ...(required.length > 0
      ? [
          breaker(
            "field:missing",
            fc.subarray([...required], { minLength: 1 }),
            (b, keys) => keys.reduce<Obj | Entries>((acc, k) => omit(acc, k), b),
            [400],
          ),
        ]
      : []),
    breaker(
      "field:server-owned",
      fc.tuple(fc.constantFrom(...serverOwned), anyJson),
      (b, [k, v]) => set(b, k, v),
      [400],
    ),
    breaker("field:unknown", fc.tuple(unknownKey(known), anyJson), (b, [k, v]) => set(b, k, v), [400]),
    breaker(
      "proto:top-level",
      fc.tuple(fc.subarray([...PROTO_KEYS], { minLength: 1 }), fc.boolean()),
      (b, [keys, first]) => {
        const hostile: [string, Json][] = keys.map((k) => [k, pollution]);
        return new Entries(first ? [...hostile, ...Object.entries(b)] : [...Object.entries(b), ...hostile]);
      },
      [400],
    ),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// POST /v1/agents

const AGENT_KEYS = ["name", "kind", "description", "actions"];
const AGENT_SERVER_OWNED = ["id", "status", "builtin", "queue", "createdAt", "updatedAt", "lastHeartbeatAt"];
const ACTION_KEYS = ["name", "description", "params", "retry", "timeoutSeconds"];
const SCHEMA_KEYWORDS: readonly string[] = PARAMS_SCHEMA_KEYWORDS;

const validParamsSchema: fc.Arbitrary<Json> = fc.constantFrom<Json>(
  { type: "object" },
  {
    type: "object",
    properties: { n: { type: "integer", minimum: 0, maximum: 10 } },
    required: ["n"],
    additionalProperties: false,
  },
  { type: "object", properties: { s: { type: "string", maxLength: 20, pattern: "^[a-z]+$" } } },
  { type: "object", properties: { tags: { type: "array", items: { type: "string", enum: ["a", "b"] }, maxItems: 5 } } },
);

const validRetry = fc.record(
  {
    maxAttempts: fc.integer({ min: 1, max: 10 }),
    backoffSeconds: fc.integer({ min: 0, max: 300 }),
    maxBackoffSeconds: fc.integer({ min: 0, max: 900 }),
  },
  { requiredKeys: [] },
);

const validAction = fc.record(
  {
    name: fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/),
    description: fc.string({ maxLength: 60 }),
    params: validParamsSchema,
    retry: validRetry,
    timeoutSeconds: fc.integer({ min: 1, max: 900 }),
  },
  { requiredKeys: ["name"] },
) as fc.Arbitrary<Obj & { name: string }>;

/** A valid registration of a fresh agent (every request then breaks it). */
const validAgent: fc.Arbitrary<Obj> = fc.record(
  {
    name: fc.stringMatching(/^[a-z0-9]{1,12}$/).map((s) => `hx${s}`),
    kind: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
    description: fc.string({ maxLength: 80 }),
    actions: fc.uniqueArray(validAction, { minLength: 1, maxLength: 3, selector: (a) => a.name }),
  },
  { requiredKeys: ["name", "actions"] },
);

const actionsOf = (b: Obj): Obj[] => (Array.isArray(b.actions) ? (b.actions as Obj[]) : []);
/** `base` with its first action changed. */
const withAction = (b: Obj, change: (action: Obj) => Json): Entries => {
  const [first = { name: "a" }, ...rest] = actionsOf(b);
  return set(b, "actions", [change(first), ...rest]);
};
const withParams = (b: Obj, params: Json) => withAction(b, (a) => set(a, "params", params));

/** A params schema `depth` levels deep through `items` / `properties` (valid apart from its depth). */
function deepSchema(depth: number, via: "items" | "properties"): Raw {
  const open = via === "items" ? '{"type":"array","items":' : '{"type":"object","properties":{"x":';
  const close = via === "items" ? "}" : "}}";
  return new Raw(`${open.repeat(depth - 1)}{"type":"string"}${close.repeat(depth - 1)}`);
}

const invalidRegex = fc
  .constantFrom(
    "(",
    "[a-",
    "(?<n>",
    "\\",
    "a{2,1}",
    "*",
    "+a",
    "\\p{Nope}",
    "\\k<x>",
    "(?<=",
    "[z-a]",
    "a**",
    "(?<a>x)(?<a>y)",
    "\\u{110000}",
  )
  .filter((p) => {
    try {
      new RegExp(p, "u");
      return false;
    } catch {
      return true;
    }
  });

/** Params schemas that break the schema language's rules. */
const invalidParamsSchema: fc.Arbitrary<{ family: string; schema: Json }> = fc.oneof(
  fc
    .constantFrom<Json>(
      { $ref: "http://evil.example/schema.json" },
      { $ref: "#/definitions/x" },
      { $schema: "https://json-schema.org/draft/2020-12/schema" },
      { type: "string", format: "email" },
      { oneOf: [{ type: "string" }] },
      { allOf: [] },
      new Entries([
        ["if", { type: "string" }],
        ["then", {}],
      ]),
      { type: "object", patternProperties: { ".*": {} } },
      { type: "object", additionalProperties: { type: "string" } },
      { $defs: {} },
      { type: "object", dependentRequired: {} },
      { type: "object", properties: { a: { type: "string", bogus: 1 } } },
      { type: "date" },
      { type: "any" },
      { type: ["string", "null"] },
      { type: 1 },
      { type: null },
      { type: "Object" },
      { enum: [] },
      { enum: [{}] },
      { enum: [[1]] },
      { const: { a: 1 } },
      { const: [1] },
      { minLength: -1 },
      { maxLength: 1.5 },
      { minItems: 1_000_001 },
      { maxItems: "3" },
      { minimum: "0" },
      { maximum: null },
      { type: "object", properties: { "": { type: "string" } } },
      { type: "object", properties: { a: "string" } },
      { type: "object", properties: [] },
      { required: "a" },
      { required: [""] },
      { additionalProperties: "no" },
      { items: [] },
      { description: 5 },
      { pattern: 5 },
      [],
      "object",
      null,
      5,
    )
    .map((schema) => ({ family: "params-schema:invalid-keyword", schema })),
  fc
    .tuple(
      fc.stringMatching(/^[a-z]{1,10}$/),
      // names Object.prototype has too: a check written as `name in properties` would take them as declared
      fc.oneof(
        { arbitrary: fc.stringMatching(/^[a-z]{1,10}$/), weight: 3 },
        { arbitrary: fc.constantFrom(...OBJECT_PROTOTYPE_NAMES), weight: 1 },
      ),
    )
    .filter(([declared, named]) => declared !== named)
    .map(([declared, named]) => ({
      family: "params-schema:required-undeclared",
      schema: { type: "object", properties: { [declared]: { type: "string" } }, required: [named] },
    })),
  invalidRegex.map((pattern) => ({ family: "params-schema:bad-regex", schema: { type: "string", pattern } })),
  fc
    .integer({ min: 201, max: 5_000 })
    .map((n) => ({ family: "params-schema:long-pattern", schema: { type: "string", pattern: "a".repeat(n) } })),
  fc.integer({ min: 101, max: 3_000 }).map((n) => ({
    family: "params-schema:long-enum",
    schema: { enum: Array.from({ length: n }, (_, i) => i) },
  })),
  fc.integer({ min: 101, max: 3_000 }).map((n) => ({
    family: "params-schema:long-required",
    schema: {
      type: "object",
      properties: Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, {}])),
      required: Array.from({ length: n }, (_, i) => `p${i}`),
    },
  })),
  hugeString(257, 5_000).map((s) => ({ family: "params-schema:long-enum-value", schema: { enum: [s] } })),
  hugeString(65, 3_000).map((k) => ({
    family: "params-schema:long-property-name",
    schema: { type: "object", properties: { [k]: { type: "string" } } },
  })),
  hugeString(1_001, 300_000).map((d) => ({
    family: "params-schema:long-description",
    schema: { type: "string", description: d },
  })),
  fc
    .tuple(fc.integer({ min: 9, max: 60 }), fc.constantFrom("items" as const, "properties" as const))
    .map(([depth, via]) => ({ family: "params-schema:too-deep", schema: deepSchema(depth, via) })),
  fc
    .tuple(fc.integer({ min: 60, max: 20_000 }), fc.constantFrom("items" as const, "properties" as const))
    .map(([depth, via]) => ({ family: "params-schema:very-deep", schema: deepSchema(depth, via) })),
  fc.tuple(unknownKey(SCHEMA_KEYWORDS), anyJson).map(([k, v]) => ({
    family: "params-schema:unknown-keyword",
    schema: new Entries([
      ["type", "object"],
      [k, v],
    ]),
  })),
  fc.tuple(fc.constantFrom(...PROTO_KEYS), fc.constantFrom("top", "nested")).map(([k, where]) => ({
    family: `proto:params-schema-${where}`,
    schema:
      where === "top"
        ? new Entries([
            ["type", "object"],
            [k, pollution],
          ])
        : {
            type: "object",
            properties: {
              a: new Entries([
                ["type", "string"],
                [k, pollution],
              ]),
            },
          },
  })),
  // a valid-looking schema with a deep default is refused for an unknown keyword next to it
  deep.map((d) => ({
    family: "params-schema:deep-default",
    schema: new Entries([
      ["type", "object"],
      ["default", d],
      ["$ref", "#"],
    ]),
  })),
);

const invalidRetry: fc.Arbitrary<Json> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom("maxAttempts", "backoffSeconds", "maxBackoffSeconds"),
      fc.constantFrom<Json>(-1, 1.5, "3", null, true, [], {}, new Raw("1e999")),
    )
    .map(([k, v]) => ({ [k]: v })),
  fc.constantFrom<Json>(
    { maxAttempts: 0 },
    { maxAttempts: 11 },
    { maxAttempts: 1000 },
    { backoffSeconds: 301 },
    { maxBackoffSeconds: 901 },
  ),
  fc
    .tuple(unknownKey(["maxAttempts", "backoffSeconds", "maxBackoffSeconds"]), anyJson)
    .map(([k, v]) => new Entries([[k, v]])),
  fc.constantFrom(...PROTO_KEYS).map((k) => new Entries([[k, pollution]])),
  wrongType("object"),
);

function agentBreakers(): fc.Arbitrary<Breaker> {
  // the params schema language has the most rules: a third of the body requests break one of them
  const params = invalidParamsSchema.map(
    ({ family, schema }): Breaker => ({ family, apply: (b) => withParams(b, schema), expected: [400, 413] }),
  );
  return fc.oneof(
    { arbitrary: params, weight: 12 },
    ...commonBreakers(AGENT_KEYS, AGENT_SERVER_OWNED, ["name", "actions"]),
    breaker("name:wrong-type", wrongType("string"), (b, v) => set(b, "name", v), [400]),
    breaker("name:invalid", invalidAgentId, (b, v) => set(b, "name", v)),
    breaker("name:taken", fc.constantFrom("strict-agent", "diag"), (b, v) => set(b, "name", v), [409]),
    breaker("name:duplicate-key-last-invalid", fc.oneof(invalidAgentId, wrongType("string")), (b, v) =>
      append(b, "name", v),
    ),
    breaker(
      "kind:invalid",
      fc.oneof(wrongType("string"), fc.constantFrom("Custom", "1x", "", "a_b", "x".repeat(41)), hugeString(41, 2000)),
      (b, v) => set(b, "kind", v),
    ),
    breaker("description:invalid", fc.oneof(wrongType("string"), hugeString(1_001, 300_000)), (b, v) =>
      set(b, "description", v),
    ),
    breaker("actions:wrong-type", wrongType("array"), (b, v) => set(b, "actions", v), [400]),
    breaker("actions:empty", fc.constant([]), (b, v) => set(b, "actions", v), [400]),
    breaker("actions:duplicate-key-last-invalid", fc.constant([]), (b, v) => append(b, "actions", v), [400]),
    breaker(
      "actions:too-many",
      fc.integer({ min: 51, max: 2_000 }),
      (b, n) =>
        set(
          b,
          "actions",
          Array.from({ length: n }, (_, i) => ({ name: `a${i}` })),
        ),
      [400],
    ),
    breaker("actions:duplicate-names", fc.integer({ min: 1, max: 3 }), (b, n) => {
      const actions = actionsOf(b);
      const first = actions[0] ?? { name: "a" };
      return set(b, "actions", [...actions, ...Array.from({ length: n }, () => first)]);
    }),
    breaker("action:wrong-type", wrongType("object"), (b, v) => withAction(b, () => v), [400]),
    breaker("action:missing-name", fc.constant(null), (b) => withAction(b, (a) => omit(a, "name")), [400]),
    breaker(
      "action:name-invalid",
      fc.oneof(invalidActionName, wrongType("string")),
      (b, v) => withAction(b, (a) => set(a, "name", v)),
      [400],
    ),
    breaker(
      "action:unknown-or-server-owned-key",
      fc.tuple(
        fc.oneof(unknownKey(ACTION_KEYS), fc.constantFrom("id", "queue", "status", "handler", "builtin")),
        anyJson,
      ),
      (b, [k, v]) => withAction(b, (a) => set(a, k, v)),
      [400],
    ),
    breaker(
      "proto:action",
      fc.constantFrom(...PROTO_KEYS),
      (b, k) => withAction(b, (a) => append(a, k, pollution)),
      [400],
    ),
    breaker("action:retry-invalid", invalidRetry, (b, v) => withAction(b, (a) => set(a, "retry", v)), [400]),
    breaker(
      "action:timeout-invalid",
      fc.constantFrom<Json>(0, 901, -5, 1.5, "60", null, true, [], new Raw("1e999")),
      (b, v) => withAction(b, (a) => set(a, "timeoutSeconds", v)),
      [400],
    ),
    breaker("action:description-invalid", fc.oneof(wrongType("string"), hugeString(1_001, 300_000)), (b, v) =>
      withAction(b, (a) => set(a, "description", v)),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// POST /v1/tasks

const TASK_KEYS = ["agentId", "action", "params", "idempotencyKey"];
const TASK_SERVER_OWNED = [
  "id",
  "status",
  "attempts",
  "maxAttempts",
  "createdAt",
  "updatedAt",
  "startedAt",
  "finishedAt",
  "result",
  "error",
  "events",
];

/**
 * JSON that DynamoDB can hold as is (numbers within ±2^53 and not below 1e-130 in magnitude, no prototype
 * keys): other values are open findings, reproduced on their own in the test.
 */
const storableJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json; leaf: Json }>((tie) => ({
  leaf: fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.integer(),
    fc.double({ min: -1e15, max: 1e15, noNaN: true }).filter((d) => d === 0 || Math.abs(d) > 1e-100),
    fc.boolean(),
    fc.constant(null),
  ),
  value: fc.oneof(
    { depthSize: "small" },
    tie("leaf"),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), tie("value"), { maxKeys: 3 }),
  ),
})).value;

/** Valid submissions (the echo params always carry a nonce, so they never equal the seed task's). */
function validTask(fx: Fixtures): fc.Arbitrary<Obj> {
  const idempotencyKey = fc.stringMatching(/^[\x21-\x7e]{1,40}$/).map((s) => `hk-${s}`);
  const withKey = (target: fc.Arbitrary<Obj>) =>
    fc
      .tuple(target, fc.option(idempotencyKey, { nil: undefined }))
      .map(([t, key]): Obj => (key ? { ...t, idempotencyKey: key } : t));
  return withKey(
    fc.oneof(
      fc
        .tuple(fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), storableJson, { maxKeys: 4 }), fc.integer())
        .map(([params, nonce]): Obj => ({ agentId: "diag", action: "echo", params: { ...(params as Obj), nonce } })),
      fc.integer({ min: 0, max: 30_000 }).map((ms): Obj => ({ agentId: "diag", action: "sleep", params: { ms } })),
      fc
        .record({ times: fc.integer({ min: 0, max: 100 }), retriable: fc.boolean() }, { requiredKeys: ["times"] })
        .map((params): Obj => ({ agentId: "diag", action: "fail", params })),
      fc.integer({ min: 0, max: 10 }).map((n): Obj => ({ agentId: fx.strictAgent, action: "act", params: { n } })),
    ),
  );
}

/** Params that the target action's schema refuses (for the action the base names). */
function paramsBreaker(fx: Fixtures): fc.Arbitrary<Breaker> {
  return violatingParams(fx).map(
    (paramsFor): Breaker => ({
      family: "params:violate-action-schema",
      apply: (b) => set(b, "params", paramsFor(b.agentId ?? null, b.action ?? null)),
    }),
  );
}

/** For an agent and action the bases use, params that the action's schema refuses. */
function violatingParams(fx: Fixtures): fc.Arbitrary<(agentId: Json, action: Json) => Json> {
  const nonObject = fc.oneof(valuesOf.string, valuesOf.number, valuesOf.boolean, valuesOf.array);
  const extra = fc.tuple(
    fc.oneof(unknownKey(["ms", "times", "retriable", "n"]), fc.constantFrom(...PROTO_KEYS)),
    anyJson,
  );
  const bySleep = fc.oneof(
    fc
      .constantFrom<Json>(
        -1,
        -30_000,
        30_001,
        1e9,
        0.5,
        29_999.5,
        "10",
        "0",
        null,
        true,
        [],
        {},
        new Raw("1e999"),
        new Raw("-1e999"),
      )
      .map((ms): Json => ({ ms })),
    fc.integer({ min: 30_001 }).map((ms): Json => ({ ms })),
    fc.integer({ max: -1 }).map((ms): Json => ({ ms })),
    fc.constant<Json>({}),
    extra.map(
      ([k, v]) =>
        new Entries([
          ["ms", 10],
          [k, v],
        ]),
    ),
    deep.map((d) => new Entries([["ms", d]])),
    nonObject,
  );
  const byFail = fc.oneof(
    fc.constantFrom<Json>(
      { times: -1 },
      { times: 101 },
      { times: 1.5 },
      { times: "1" },
      { times: 1, retriable: "yes" },
      { retriable: true },
      {},
    ),
    extra.map(
      ([k, v]) =>
        new Entries([
          ["times", 1],
          [k, v],
        ]),
    ),
    nonObject,
  );
  const byStrict = fc.oneof(
    fc.constantFrom<Json>({ n: -1 }, { n: 11 }, { n: 1.5 }, { n: "1" }, { n: null }, {}),
    extra.map(
      ([k, v]) =>
        new Entries([
          ["n", 1],
          [k, v],
        ]),
    ),
    fc.constantFrom(...PROTO_KEYS).map(
      (k) =>
        new Entries([
          ["n", 1],
          [k, pollution],
        ]),
    ),
    fc.constantFrom(...PROTO_KEYS).map((k) => new Entries([[k, { n: 1 }]])),
    deep.map(
      (d) =>
        new Entries([
          ["n", 1],
          ["deep", d],
        ]),
    ),
    nonObject,
  );
  const byEcho = nonObject; // echo takes any object (and treats a missing or null params as {})
  return fc.tuple(bySleep, byFail, byStrict, byEcho).map(
    ([sleep, fail, strict, echo]) =>
      (agentId: Json, action: Json): Json =>
        action === "sleep" ? sleep : action === "fail" ? fail : agentId === fx.strictAgent ? strict : echo,
  );
}

function taskBreakers(fx: Fixtures): fc.Arbitrary<Breaker> {
  return fc.oneof(
    ...commonBreakers(TASK_KEYS, TASK_SERVER_OWNED, ["agentId", "action"]),
    breaker("agentId:wrong-type", wrongType("string"), (b, v) => set(b, "agentId", v), [400]),
    breaker("agentId:invalid", invalidAgentId, (b, v) => set(b, "agentId", v), [400]),
    breaker("agentId:unknown", unknownAgentId, (b, v) => set(b, "agentId", v), [404]),
    breaker("agentId:duplicate-key-last-invalid", fc.oneof(invalidAgentId, unknownAgentId), (b, v) =>
      append(b, "agentId", v),
    ),
    breaker("action:wrong-type", wrongType("string"), (b, v) => set(b, "action", v), [400]),
    breaker("action:invalid", invalidActionName, (b, v) => set(b, "action", v), [400]),
    breaker("action:unknown", unknownActionName, (b, v) => set(b, "action", v), [400]),
    breaker(
      "action:other-agents-action",
      fc.constant(null),
      (b) => set(b, "action", b.action === "act" ? "echo" : "act"),
      [400],
    ),
    paramsBreaker(fx).map((br) => ({ ...br, expected: [400] })),
    // params past the body limit (413; up to it they are kept by reference), at an unknown agent or as a non-object
    breaker("params:over-body-limit", hugeString(270_000, 400_000), (b, s) => set(b, "params", { s }), [413]),
    // deep nesting inside params that is invalid anyway: an unknown agent, or an action that refuses it
    breaker(
      "params:deep-unknown-agent",
      fc.tuple(deep, unknownAgentId),
      (_b, [d, ghost]) =>
        new Entries([
          ["agentId", ghost],
          ["action", "echo"],
          ["params", new Entries([["a", d]])],
        ]),
    ),
    breaker(
      "params:deep-array-to-echo",
      deep,
      (_b, d) =>
        new Entries([
          ["agentId", "diag"],
          ["action", "echo"],
          ["params", new Raw(`[${d.text}]`)],
        ]),
    ),
    breaker(
      "params:deep-unknown-field",
      deep,
      (b, d) => append(set(b, "params", new Entries([["a", d]])), "hostile", true),
      [400],
    ),
    breaker("params:long-array", fc.integer({ min: 1, max: 60_000 }), (b, n) =>
      set(b, "params", new Raw(`[${"0,".repeat(n)}0]`)),
    ),
    breaker(
      "idempotencyKey:invalid",
      fc.oneof(
        wrongType("string"),
        fc.constantFrom("", " ", "a b", "tab\tkey", "ключ", "😀", "\u0000", "a\u200bb", "\u007f"),
        hugeString(129, 5_000),
        hostileString.filter((s) => !isIdempotencyKey(s)),
      ),
      (b, v) => set(b, "idempotencyKey", v),
      [400],
    ),
    breaker(
      "idempotencyKey:held-by-another-request",
      fc.constant(fx.seedIdempotencyKey),
      (b, key) => set(b, "idempotencyKey", key),
      [409],
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// POST /v1/keys

const KEY_KEYS = ["name", "role", "agentId", "expiresAt", "rateLimitPerMinute"];
const KEY_SERVER_OWNED = [
  "id",
  "hash",
  "prefix",
  "createdBy",
  "createdAt",
  "revokedAt",
  "revokedBy",
  "lastUsedAt",
  "key",
  "token",
];

const validName = fc
  .oneof(
    fc.string({ minLength: 1, maxLength: 60 }),
    fc.constantFrom(...UNICODE_EDGE).map((u) => `key ${u}`),
  )
  .filter((s) => s.trim().length >= 1 && s.trim().length <= 100);

function validKey(fx: Fixtures): fc.Arbitrary<Obj> {
  const future = fc
    .integer({ min: 1, max: 3_650 })
    .map((days) => new Date(Date.now() + days * 86_400_000).toISOString());
  return fc.oneof(
    fc.record(
      {
        name: validName,
        role: fc.constantFrom("admin", "operator", "viewer"),
        expiresAt: future,
        rateLimitPerMinute: fc.integer({ min: 1, max: 100_000 }),
      },
      { requiredKeys: ["name", "role"] },
    ) as fc.Arbitrary<Obj>,
    fc.record(
      {
        name: validName,
        role: fc.constant("agent"),
        agentId: fc.constantFrom(fx.strictAgent, "diag"),
        expiresAt: future,
      },
      { requiredKeys: ["name", "role", "agentId"] },
    ) as fc.Arbitrary<Obj>,
  );
}

const notIso = fc.oneof(
  fc.constantFrom(
    "tomorrow",
    "2030-01-01",
    "2030-01-01T00:00:00",
    "2030-01-01 00:00:00Z",
    "2030-13-01T00:00:00Z",
    "2030-02-30T00:00:00Z",
    "2030-01-01T24:00:00Z",
    "2030-01-01T00:00:00+25:00",
    "2030-01-01t00:00:00z",
    "+012030-01-01T00:00:00Z",
    " 2030-01-01T00:00:00Z",
    "2030-01-01T00:00:00Z ",
    "2030-01-01T00:00:00Z\u0000",
    "2030‐01‐01T00:00:00Z", // Unicode hyphens
    "２０３０-01-01T00:00:00Z",
    "",
    "now",
    "Infinity",
  ),
  fc.string({ maxLength: 30 }).filter((s) => !/^\d{4}-/.test(s)),
  wrongType("string"),
);

function keyBreakers(fx: Fixtures): fc.Arbitrary<Breaker> {
  const past = fc
    .date({ min: new Date(0), max: new Date(Date.now() - 60_000), noInvalidDate: true })
    .map((d) => d.toISOString());
  return fc.oneof(
    ...commonBreakers(KEY_KEYS, KEY_SERVER_OWNED, ["name", "role"]),
    breaker(
      "role:invalid",
      fc
        .oneof(
          fc.constantFrom(
            "superadmin",
            "ADMIN",
            "Admin",
            "",
            " admin",
            "admin ",
            "root",
            "owner",
            "admin\u0000",
            "viewer\u200b",
            "аdmin",
          ),
          fc.constantFrom<Json>(null, 1, true, ["admin"], { $eq: "admin" }, { toString: "admin" }),
          hostileString,
        )
        .filter((r) => typeof r !== "string" || !ROLES.includes(r)),
      (b, v) => set(b, "role", v),
      [400],
    ),
    breaker(
      "role:duplicate-key-last-invalid",
      fc.constantFrom("superadmin", "ADMIN", ""),
      (b, v) => append(b, "role", v),
      [400],
    ),
    breaker("role:agent-without-agentId", fc.constant(null), (b) => set(omit(b, "agentId"), "role", "agent"), [400]),
    breaker(
      "agentId:with-non-agent-role",
      fc.tuple(fc.constantFrom("admin", "operator", "viewer"), fc.constantFrom(fx.strictAgent, "diag")),
      (b, [role, agentId]) => set(set(b, "role", role), "agentId", agentId),
      [400],
    ),
    breaker("agentId:unknown", unknownAgentId, (b, v) => set(set(b, "role", "agent"), "agentId", v), [404]),
    breaker("agentId:invalid", fc.oneof(invalidAgentId, wrongType("string")), (b, v) => set(b, "agentId", v), [400]),
    breaker("expiresAt:past", past, (b, v) => set(b, "expiresAt", v), [400]),
    breaker("expiresAt:not-iso", notIso, (b, v) => set(b, "expiresAt", v), [400]),
    breaker(
      "rateLimitPerMinute:invalid",
      fc.oneof(
        fc.constantFrom<Json>(
          0,
          -1,
          100_001,
          1e308,
          1.5,
          0.999,
          "10",
          null,
          true,
          [],
          {},
          new Raw("1e999"),
          new Raw("-0"),
          new Raw("1E5000"),
        ),
        fc.integer({ max: 0 }),
        fc.integer({ min: 100_001 }),
        fc.double({ min: 1.000001, max: 99_999.999, noNaN: true }).filter((n) => !Number.isInteger(n)),
      ),
      (b, v) => set(b, "rateLimitPerMinute", v),
      [400],
    ),
    breaker(
      "name:invalid",
      fc.oneof(
        wrongType("string"),
        fc.array(fc.constantFrom(...TRIMMED_MORE), { maxLength: 10 }).map((parts) => parts.join("")),
        hugeString(101, 300_000).filter((s) => [...s.trim()].length > 100),
      ),
      (b, v) => set(b, "name", v),
    ),
    breaker(
      "name:duplicate-key-last-invalid",
      fc.constantFrom<Json>("", "   ", null, 5),
      (b, v) => append(b, "name", v),
      [400],
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// POST /v1/plans
//
// The contract (README, Plans): steps {id, agentId, action, params?, dependsOn?, retry?, timeoutSeconds?},
// {id, kind: "approval", message, approvers?, dependsOn?, timeoutSeconds?} or {id, kind: "wait", seconds,
// dependsOn?}; ids /^[a-z][a-z0-9_-]*$/ (1-40), unique; dependencies known, no cycle; references
// "{{steps.<id>.result.<path>}}" only to ancestors that have a result (agent steps), and a {{…}} that is
// not such a reference is refused; known, active agents and their actions; params that fit the action's
// schema (24 levels at most; the 256 KB body bounds their size); 1 to 40 steps. Or {goal, constraints?} for
// the planner (none is configured here: 422). Timeouts 10 s to 7 days, waits 1 s to 24 h, messages 1-2000, approvers 1-20 of
// 1-64 characters, name 1-120, goal 1-2000.

const PLAN_KEYS = ["name", "goal", "constraints", "steps", "dryRun"];
const PLAN_SERVER_OWNED = [
  "id",
  "status",
  "run",
  "executionArn",
  "error",
  "createdBy",
  "planner",
  "createdAt",
  "updatedAt",
  "startedAt",
  "finishedAt",
  "events",
];
type StepKind = "agent" | "approval" | "wait";
const STEP_KINDS: readonly StepKind[] = ["agent", "approval", "wait"];
/** The fields each kind of step takes. */
const STEP_FIELDS: Record<StepKind, readonly string[]> = {
  agent: ["id", "kind", "agentId", "action", "params", "dependsOn", "retry", "timeoutSeconds"],
  approval: ["id", "kind", "message", "approvers", "dependsOn", "timeoutSeconds"],
  wait: ["id", "kind", "seconds", "dependsOn"],
};
const STEP_REQUIRED: Record<StepKind, readonly string[]> = {
  agent: ["id", "agentId", "action"],
  approval: ["id", "kind", "message"],
  wait: ["id", "kind", "seconds"],
};
/** What a stored step has and a submitted one may not. */
const STEP_SERVER_OWNED = [
  "status",
  "taskId",
  "attempts",
  "startedAt",
  "finishedAt",
  "error",
  "result",
  "decidedBy",
  "run",
  "index",
  "planId",
  "heartbeatSeconds",
  "readyToken",
  "approvalToken",
  "events",
];
const ALL_STEP_FIELDS = [...new Set([...Object.values(STEP_FIELDS).flat(), ...STEP_SERVER_OWNED])];
const MAX_PLAN_STEPS = 40;
export const isStepId = (s: string) => s.length >= 1 && s.length <= 40 && /^[a-z][a-z0-9_-]*$/.test(s);

/** The steps of the plans the test sets up (see Fixtures.plans). */
export const FIXTURE_STEPS = { gate: "gate", after: "after", work: "work", pause: "pause" } as const;

const kindOf = (step: Obj): StepKind => (step.kind === "approval" || step.kind === "wait" ? step.kind : "agent");
const idOf = (step: Obj) => String(step.id);
const depsOf = (step: Obj): string[] => (Array.isArray(step.dependsOn) ? (step.dependsOn as string[]) : []);
const stepsOf = (b: Obj): Obj[] => (Array.isArray(b.steps) ? (b.steps as Obj[]) : []);

/** Every step each base step depends on, directly or not (base steps form a DAG). */
function ancestorsIn(steps: readonly Obj[]): Map<string, Set<string>> {
  const byId = new Map(steps.map((s) => [idOf(s), s]));
  const memo = new Map<string, Set<string>>();
  const of = (id: string): Set<string> => {
    const known = memo.get(id);
    if (known) return known;
    const all = new Set<string>();
    for (const dep of depsOf(byId.get(id) ?? {})) {
      all.add(dep);
      for (const a of of(dep)) all.add(a);
    }
    memo.set(id, all);
    return all;
  };
  return new Map(steps.map((s) => [idOf(s), of(idOf(s))]));
}

/** `base` with step `pick` (modulo the count) changed. */
const withStep = (b: Obj, pick: number, change: (step: Obj, steps: Obj[]) => Json): Entries => {
  const steps = stepsOf(b);
  const i = pick % Math.max(1, steps.length);
  return set(
    b,
    "steps",
    steps.map((s, j) => (j === i ? change(s, steps) : s)),
  );
};
/** `base` with more steps after its own. Their ids start with "zn-"; base ids never start with "z". */
const withNewSteps = (b: Obj, ...extra: Json[]): Entries => set(b, "steps", [...stepsOf(b), ...extra]);
const newEcho = (id: string, params: Json, extra: Obj = {}): Obj => ({
  id,
  agentId: "diag",
  action: "echo",
  params,
  ...extra,
});
/** `base` with an agent step changed: one of its own (`pick`), or a new `diag echo` step when it has none. */
const withAgentStep = (b: Obj, pick: number, change: (step: Obj) => Json): Entries => {
  const agents = stepsOf(b).filter((s) => kindOf(s) === "agent");
  if (agents.length === 0) return withNewSteps(b, change(newEcho("zn-agent", { a: 1 })));
  const target = agents[pick % agents.length];
  return set(
    b,
    "steps",
    stepsOf(b).map((s) => (s === target ? change(s) : s)),
  );
};

const safeText = fc.stringMatching(/^[A-Za-z0-9 .,:-]{1,40}$/);
const stepTimeout = fc.integer({ min: 10, max: 7 * 86_400 });
// built once: the plan generators chain, and building a stringMatching arbitrary per value is slow
const paramKey = fc.stringMatching(/^[a-z]{1,8}$/);
const plainParamValue: fc.Arbitrary<Json> = fc.oneof(
  safeText,
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
);
const baseStepId = fc.stringMatching(/^[a-y][a-z0-9_-]{0,11}$/).filter((id) => !OBJECT_PROTOTYPE_NAMES.includes(id));

/** A valid agent step's target and params; `refs` are agent steps it depends on (its references' targets). */
function validAgentTarget(fx: Fixtures, refs: readonly string[]): fc.Arbitrary<Obj> {
  const plain = plainParamValue;
  const ref =
    refs.length > 0
      ? fc
          .tuple(fc.constantFrom(...refs), fc.constantFrom("", ".title", ".nested.n", ".0"))
          .map(([id, path]) => `{{steps.${id}.result${path}}}`)
      : undefined;
  const echoValue: fc.Arbitrary<Json> = ref
    ? fc.oneof(
        plain,
        ref,
        ref.map((r) => `before ${r} after`),
      )
    : plain;
  const n: fc.Arbitrary<Json> = ref ? fc.oneof(fc.integer({ min: 0, max: 10 }), ref) : fc.integer({ min: 0, max: 10 });
  return fc.oneof(
    fc
      .tuple(fc.dictionary(paramKey, echoValue, { maxKeys: 4 }), fc.integer())
      .map(([params, nonce]): Obj => ({ agentId: "diag", action: "echo", params: { ...(params as Obj), nonce } })),
    fc.integer({ min: 0, max: 30_000 }).map((ms): Obj => ({ agentId: "diag", action: "sleep", params: { ms } })),
    fc
      .record({ times: fc.integer({ min: 0, max: 100 }), retriable: fc.boolean() }, { requiredKeys: ["times"] })
      .map((params): Obj => ({ agentId: "diag", action: "fail", params })),
    n.map((value): Obj => ({ agentId: fx.strictAgent, action: "act", params: { n: value } })),
  );
}

/** Step `i` of a valid plan: it depends on some earlier steps only, and references only agent ones of those. */
function validStep(fx: Fixtures, ids: readonly string[], kinds: readonly StepKind[], i: number): fc.Arbitrary<Obj> {
  const id = ids[i] ?? "a";
  return fc.subarray(ids.slice(0, i)).chain((dependsOn) => {
    const base: Obj = { id, ...(dependsOn.length > 0 ? { dependsOn } : {}) };
    switch (kinds[i]) {
      case "approval":
        return fc
          .record(
            {
              message: fc.string({ minLength: 1, maxLength: 60 }),
              approvers: fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 3 }),
              timeoutSeconds: stepTimeout,
            },
            { requiredKeys: ["message"] },
          )
          .map((fields): Obj => ({ ...base, kind: "approval", ...fields }));
      case "wait":
        return fc.integer({ min: 1, max: 86_400 }).map((seconds): Obj => ({ ...base, kind: "wait", seconds }));
      default: {
        const refs = dependsOn.filter((d) => kinds[ids.indexOf(d)] === "agent");
        return fc
          .record(
            {
              target: validAgentTarget(fx, refs),
              kind: fc.boolean(),
              retry: validRetry,
              timeoutSeconds: stepTimeout,
            },
            { requiredKeys: ["target", "kind"] },
          )
          .map(
            ({ target, kind, ...rest }): Obj => ({
              ...base,
              ...(kind ? { kind: "agent" } : {}),
              ...target,
              ...(rest as Obj),
            }),
          );
      }
    }
  });
}

/** A valid plan of 1 to 6 steps, in any order (dependencies included), with or without name, goal, dryRun. */
function validPlan(fx: Fixtures): fc.Arbitrary<Obj> {
  const ids = (n: number) => fc.uniqueArray(baseStepId, { minLength: n, maxLength: n });
  const kinds = (n: number) =>
    fc.array(fc.constantFrom<StepKind>("agent", "agent", "approval", "wait"), { minLength: n, maxLength: n });
  return fc
    .integer({ min: 1, max: 6 })
    .chain((n) => fc.tuple(ids(n), kinds(n)))
    .chain(([stepIds, stepKinds]) => fc.tuple(...stepIds.map((_, i) => validStep(fx, stepIds, stepKinds, i))))
    .chain((steps) => fc.shuffledSubarray(steps, { minLength: steps.length, maxLength: steps.length }))
    .chain((steps) =>
      fc
        .record(
          {
            name: fc.string({ minLength: 1, maxLength: 60 }),
            goal: fc.string({ minLength: 1, maxLength: 80 }),
            dryRun: fc.boolean(),
          },
          { requiredKeys: [] },
        )
        .map((top): Obj => ({ ...top, steps })),
    );
}

/** Where a reference may hide in params. */
const PLACEMENTS: ReadonlyArray<(ref: string) => Json> = [
  (r) => ({ text: r }),
  (r) => ({ list: ["a", r] }),
  (r) => ({ deep: { a: [{ b: r }] } }),
  (r) => ({ text: `before ${r} after` }),
  (r) => ({ text: `${r}${r}` }),
  (r) => new Entries([["__proto__", r]]),
  (r) => new Entries([["constructor", new Entries([["prototype", r]])]]),
  (r) => new Entries([["__proto__", new Entries([["polluted", r]])]]),
];
const placement = fc.integer({ min: 0, max: PLACEMENTS.length - 1 });
const place = (i: number, ref: string): Json => (PLACEMENTS[i] ?? PLACEMENTS[0] ?? ((r) => r))(ref);

/** Ids no step has: base ids start with a-y and new ones with "zn-". */
const ghostStepId = fc.oneof(
  fc.stringMatching(/^[a-z0-9]{1,8}$/).map((s) => `zz-${s}`),
  fc.constant("constructor"),
);
const invalidStepId: fc.Arbitrary<Json> = fc.oneof(
  wrongType("string"),
  fc.constantFrom<Json>(
    "",
    "A",
    "Gate",
    "1a",
    "_a",
    "-a",
    "a b",
    "a.b",
    "a/b",
    "a#b",
    "STEP#a",
    "__proto__",
    "a\u0000",
    "ａ",
    "{{steps.a.result}}",
    "a".repeat(41),
  ),
  hostileString.filter((s) => !isStepId(s)),
  hugeString(41, 5_000),
);

/** Reference-shaped text that names no step there can be, or a {{…}} that is not a reference at all. */
const hostileReference = fc
  .tuple(
    fc.oneof(
      ghostStepId,
      fc.constantFrom(
        "__proto__",
        "constructor",
        "prototype",
        "toString",
        "hasOwnProperty",
        "__defineGetter__",
        "",
        "A",
        "1a",
        "..",
        "steps",
        "a.b",
        " a",
      ),
    ),
    fc.constantFrom(
      "",
      ".__proto__",
      ".__proto__.polluted",
      ".constructor.prototype",
      ".prototype.isAdmin",
      ".polluted",
      ".0",
      ".a.b.c",
      "[0]",
      ".",
      "..x",
    ),
    fc.constantFrom(
      (id: string, path: string) => `{{steps.${id}.result${path}}}`,
      (id: string, path: string) => `{{ steps.${id}.result${path} }}`,
      (id: string, path: string) => `{{{steps.${id}.result${path}}}}`,
      (id: string, path: string) => `{{steps.${id}${path}}}`,
      (id: string, path: string) => `{{steps.${id}.results${path}}}`,
      (id: string, path: string) => `{{steps.${id}.result${path}}}}}`,
      (id: string, path: string) => `{{${id}${path}}}`,
    ),
  )
  .map(([id, path, template]) => template(id, path));

function planBreakers(fx: Fixtures): fc.Arbitrary<Breaker> {
  const pick = fc.nat();
  const validConstraints = fc.record(
    {
      agents: fc.uniqueArray(fc.constantFrom("diag", fx.strictAgent), { minLength: 1 }),
      requireApproval: fc.boolean(),
      maxSteps: fc.integer({ min: 1, max: MAX_PLAN_STEPS }),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<Obj>;
  const tooManySteps = (n: number, shape: "wait" | "echo" | "chain"): Json[] =>
    Array.from({ length: n }, (_, i): Json => {
      if (shape === "wait") return { id: `s${i}`, kind: "wait", seconds: 1 };
      return {
        id: `s${i}`,
        agentId: "diag",
        action: "echo",
        ...(shape === "chain" && i > 0 ? { dependsOn: [`s${i - 1}`] } : {}),
      };
    });
  const ring = (k: number, shape: "wait" | "echo"): Json[] =>
    Array.from({ length: k }, (_, i): Json => {
      const dependsOn = [`r${(i + 1) % k}`];
      return shape === "wait"
        ? { id: `r${i}`, kind: "wait", seconds: 1, dependsOn }
        : { id: `r${i}`, agentId: "diag", action: "echo", dependsOn };
    });
  return fc.oneof(
    ...commonBreakers(PLAN_KEYS, PLAN_SERVER_OWNED, []),
    breaker("field:missing", fc.constant(null), (b) => omit(omit(b, "steps"), "goal"), [400]),
    // a goal alone is valid, but no planner is configured in this app: 422, nothing stored
    breaker(
      "goal:no-planner-configured",
      fc.tuple(safeText, fc.option(validConstraints, { nil: undefined })),
      (b, [goal, constraints]) => {
        const withGoal = set(omit(b, "steps"), "goal", goal);
        return constraints ? set(withGoal, "constraints", constraints) : withGoal;
      },
      [422],
    ),
    breaker(
      "constraints:with-steps",
      fc.oneof(validConstraints, wrongType("object")),
      (b, v) => set(b, "constraints", v),
      [400],
    ),
    breaker(
      "constraints:invalid",
      fc.oneof(
        fc.constantFrom<Json>(
          { agents: [] },
          { agents: ["Diag"] },
          { agents: ["diag-dlq"] },
          { agents: "diag" },
          { agents: [null] },
          { maxSteps: 0 },
          { maxSteps: MAX_PLAN_STEPS + 1 },
          { maxSteps: 1.5 },
          { maxSteps: "3" },
          { requireApproval: "yes" },
          { requireApproval: null },
        ),
        fc
          .integer({ min: 51, max: 500 })
          .map((n): Json => ({ agents: Array.from({ length: n }, (_, i) => `agent-${i}`) })),
        fc.tuple(unknownKey(["agents", "requireApproval", "maxSteps"]), anyJson).map(([k, v]) => new Entries([[k, v]])),
        fc.constantFrom(...PROTO_KEYS).map((k) => new Entries([[k, pollution]])),
        wrongType("object"),
      ),
      (b, v) => set(set(omit(b, "steps"), "goal", "plan something"), "constraints", v),
      [400],
    ),
    breaker(
      "name:invalid",
      fc.oneof(wrongType("string"), fc.constant(""), hugeString(121, 300_000)),
      (b, v) => set(b, "name", v),
      [400],
    ),
    breaker(
      "goal:invalid",
      fc.oneof(wrongType("string"), fc.constant(""), hugeString(2_001, 300_000)),
      (b, v) => set(b, "goal", v),
      [400],
    ),
    breaker(
      "dryRun:invalid",
      fc.oneof(wrongType("boolean"), fc.constantFrom<Json>("true", "false", 0, 1)),
      (b, v) => set(b, "dryRun", v),
      [400],
    ),
    breaker("steps:wrong-type", wrongType("array"), (b, v) => set(b, "steps", v), [400]),
    breaker("steps:empty", fc.constant([]), (b, v) => set(b, "steps", v), [400]),
    breaker(
      "steps:duplicate-key-last-invalid",
      fc.constantFrom<Json>([], null, "steps", {}),
      (b, v) => append(b, "steps", v),
      [400],
    ),
    breaker(
      "steps:too-many",
      fc.tuple(
        fc.oneof(fc.integer({ min: MAX_PLAN_STEPS + 1, max: 60 }), fc.integer({ min: 61, max: 3_000 })),
        fc.constantFrom("wait" as const, "echo" as const, "chain" as const),
      ),
      (b, [n, shape]) => set(b, "steps", tooManySteps(n, shape)),
      [400],
    ),
    breaker("step:wrong-type", fc.tuple(pick, wrongType("object")), (b, [i, v]) => withStep(b, i, () => v), [400]),
    breaker(
      "step:foreign-key",
      fc.tuple(pick, fc.nat(), anyJson),
      (b, [i, k, v]) =>
        withStep(b, i, (step) => {
          const own = STEP_FIELDS[kindOf(step)];
          const foreign = ALL_STEP_FIELDS.filter((f) => !own.includes(f));
          return set(step, foreign[k % foreign.length] ?? "status", v);
        }),
      [400],
    ),
    breaker(
      "step:unknown-key",
      fc.tuple(pick, unknownKey(ALL_STEP_FIELDS), anyJson),
      (b, [i, k, v]) => withStep(b, i, (step) => set(step, k, v)),
      [400],
    ),
    breaker(
      "proto:step",
      fc.tuple(pick, fc.constantFrom(...PROTO_KEYS)),
      (b, [i, k]) => withStep(b, i, (step) => append(step, k, pollution)),
      [400],
    ),
    breaker(
      "step:kind-invalid",
      fc.tuple(
        pick,
        fc.oneof(
          fc.constantFrom<Json>(
            "Agent",
            "AGENT",
            "task",
            "approve",
            "approval ",
            "wait\u0000",
            "",
            "agent\u200b",
            "аgent",
            null,
            1,
            true,
            [],
            {},
            ["agent"],
          ),
          hostileString.filter((s) => !(STEP_KINDS as readonly string[]).includes(s)),
        ),
      ),
      (b, [i, v]) => withStep(b, i, (step) => set(step, "kind", v)),
      [400],
    ),
    // each kind has a required field the others refuse, so any other kind is wrong
    breaker(
      "step:kind-mismatch",
      fc.tuple(pick, fc.nat()),
      (b, [i, k]) =>
        withStep(b, i, (step) => {
          const others = STEP_KINDS.filter((kind) => kind !== kindOf(step));
          const kind = others[k % others.length] ?? "wait";
          return kind === "agent" && k % 2 === 0 ? omit(step, "kind") : set(step, "kind", kind);
        }),
      [400],
    ),
    breaker(
      "step:missing-field",
      fc.tuple(pick, fc.nat()),
      (b, [i, k]) =>
        withStep(b, i, (step) => {
          const required = STEP_REQUIRED[kindOf(step)];
          return omit(step, required[k % required.length] ?? "id");
        }),
      [400],
    ),
    breaker(
      "step.id:invalid",
      fc.tuple(pick, invalidStepId),
      (b, [i, v]) => withStep(b, i, (step) => set(step, "id", v)),
      [400],
    ),
    breaker(
      "step.id:duplicate",
      fc.tuple(pick, pick),
      (b, [i, j]) => {
        const steps = stepsOf(b);
        const source = steps[i % steps.length] ?? {};
        if (steps.length < 2) return withNewSteps(b, source);
        const others = steps.filter((s) => s !== source);
        const target = others[j % others.length];
        return set(
          b,
          "steps",
          steps.map((s) => (s === target ? set(s, "id", idOf(source)) : s)),
        );
      },
      [400],
    ),
    breaker(
      "dependsOn:self",
      pick,
      (b, i) => withStep(b, i, (step) => set(step, "dependsOn", [...depsOf(step), idOf(step)])),
      [400],
    ),
    breaker(
      "dependsOn:cycle",
      fc.tuple(pick, pick),
      (b, [i, j]) => {
        const steps = stepsOf(b);
        const source = steps[i % steps.length] ?? {};
        const ancestors = [...(ancestorsIn(steps).get(idOf(source)) ?? [])];
        // an ancestor of `source` that depends on it closes a cycle; without ancestors, it depends on itself
        const closing = ancestors[j % Math.max(1, ancestors.length)] ?? idOf(source);
        return set(
          b,
          "steps",
          steps.map((s) => (idOf(s) === closing ? set(s, "dependsOn", [...depsOf(s), idOf(source)]) : s)),
        );
      },
      [400],
    ),
    breaker(
      "dependsOn:ring",
      fc.tuple(fc.integer({ min: 2, max: MAX_PLAN_STEPS }), fc.constantFrom("wait" as const, "echo" as const)),
      (b, [k, shape]) => set(b, "steps", ring(k, shape)),
      [400],
    ),
    breaker(
      "dependsOn:unknown",
      fc.tuple(pick, ghostStepId),
      (b, [i, ghost]) => withStep(b, i, (step) => set(step, "dependsOn", [...depsOf(step), ghost])),
      [400],
    ),
    breaker(
      "dependsOn:duplicate",
      fc.tuple(pick, pick),
      (b, [i, j]) =>
        withStep(b, i, (step, steps) => {
          const deps = depsOf(step);
          if (deps.length > 0) return set(step, "dependsOn", [...deps, deps[j % deps.length] ?? ""]);
          const other = idOf(steps[j % steps.length] ?? step);
          return set(step, "dependsOn", [other, other]);
        }),
      [400],
    ),
    breaker(
      "dependsOn:invalid",
      fc.tuple(pick, fc.oneof(wrongType("array"), fc.array(invalidStepId, { minLength: 1, maxLength: 3 }))),
      (b, [i, v]) => withStep(b, i, (step) => set(step, "dependsOn", v)),
      [400],
    ),
    breaker(
      "dependsOn:too-many",
      fc.tuple(pick, fc.integer({ min: MAX_PLAN_STEPS + 1, max: 2_000 })),
      (b, [i, n]) =>
        withStep(b, i, (step) =>
          set(
            step,
            "dependsOn",
            Array.from({ length: n }, (_, k) => `zz-${k}`),
          ),
        ),
      [400],
    ),
    // a new step without dependencies: whatever it references is not its ancestor (or is no reference)
    breaker(
      "reference:hostile",
      fc.tuple(hostileReference, placement),
      (b, [ref, where]) => withNewSteps(b, newEcho("zn-ref", place(where, ref))),
      [400],
    ),
    breaker(
      "reference:not-an-ancestor",
      fc.tuple(pick, pick, placement, fc.constantFrom("", ".x", ".__proto__", ".constructor.prototype")),
      (b, [i, j, where, path]) => {
        const steps = stepsOf(b);
        const echoes = steps.filter((s) => s.agentId === "diag" && s.action === "echo");
        const source = echoes[i % Math.max(1, echoes.length)];
        if (!source) {
          const target = steps[j % steps.length] ?? {};
          return withNewSteps(b, newEcho("zn-ref", place(where, `{{steps.${idOf(target)}.result${path}}}`)));
        }
        const ancestors = ancestorsIn(steps).get(idOf(source)) ?? new Set<string>();
        const candidates = steps.filter((s) => !ancestors.has(idOf(s))); // itself included
        const target = candidates[j % candidates.length] ?? source;
        const ref = `{{steps.${idOf(target)}.result${path}}}`;
        return set(
          b,
          "steps",
          steps.map((s) => (s === source ? set(s, "params", place(where, ref)) : s)),
        );
      },
      [400],
    ),
    breaker(
      "reference:step-without-result",
      fc.tuple(pick, placement),
      (b, [i, where]) => {
        const gates = stepsOf(b).filter((s) => kindOf(s) !== "agent");
        const target = gates[i % Math.max(1, gates.length)];
        if (!target) {
          return withNewSteps(
            b,
            { id: "zn-wait", kind: "wait", seconds: 1 },
            newEcho("zn-ref", place(where, "{{steps.zn-wait.result}}"), { dependsOn: ["zn-wait"] }),
          );
        }
        const ref = `{{steps.${idOf(target)}.result}}`;
        return withNewSteps(b, newEcho("zn-ref", place(where, ref), { dependsOn: [idOf(target)] }));
      },
      [400],
    ),
    breaker(
      "agent:agentId-invalid",
      fc.tuple(pick, fc.oneof(invalidAgentId, wrongType("string"))),
      (b, [i, v]) => withAgentStep(b, i, (step) => set(step, "agentId", v)),
      [400],
    ),
    breaker(
      "agent:agentId-unknown",
      fc.tuple(pick, unknownAgentId),
      (b, [i, v]) => withAgentStep(b, i, (step) => set(step, "agentId", v)),
      [400],
    ),
    breaker(
      "agent:agentId-inactive",
      pick,
      (b, i) => withAgentStep(b, i, (step) => set(step, "agentId", fx.inactiveAgent)),
      [400],
    ),
    breaker(
      "agent:action-invalid",
      fc.tuple(pick, fc.oneof(invalidActionName, wrongType("string"))),
      (b, [i, v]) => withAgentStep(b, i, (step) => set(step, "action", v)),
      [400],
    ),
    breaker(
      "agent:action-unknown",
      fc.tuple(pick, unknownActionName),
      (b, [i, v]) => withAgentStep(b, i, (step) => set(step, "action", v)),
      [400],
    ),
    breaker(
      "agent:other-agents-action",
      pick,
      (b, i) => withAgentStep(b, i, (step) => set(step, "action", step.action === "act" ? "echo" : "act")),
      [400],
    ),
    breaker(
      "agent:params-violate-schema",
      fc.tuple(pick, violatingParams(fx)),
      (b, [i, paramsFor]) =>
        withAgentStep(b, i, (step) => set(step, "params", paramsFor(step.agentId ?? null, step.action ?? null))),
      [400],
    ),
    breaker(
      "agent:params-over-body-limit",
      fc.tuple(pick, hugeString(270_000, 400_000)),
      (b, [i, text]) => withAgentStep(b, i, (step) => set(step, "params", { text })),
      [413],
    ),
    breaker(
      "agent:params-too-deep",
      fc.tuple(
        pick,
        fc.integer({ min: 24, max: 36 }),
        fc.constantFrom("array" as const, "object" as const, "mixed" as const),
      ),
      (b, [i, depth, shape]) =>
        withAgentStep(b, i, (step) => set(step, "params", new Entries([["a", nested(depth, shape)]]))),
      [400],
    ),
    breaker(
      "agent:params-very-deep",
      fc.tuple(pick, deep),
      (b, [i, d]) => withAgentStep(b, i, (step) => set(step, "params", new Entries([["a", d]]))),
      [400],
    ),
    breaker(
      "agent:retry-invalid",
      fc.tuple(pick, invalidRetry),
      (b, [i, v]) => withAgentStep(b, i, (step) => set(step, "retry", v)),
      [400],
    ),
    breaker(
      "step:timeout-invalid",
      fc.tuple(
        pick,
        fc.oneof(
          fc.constantFrom<Json>(0, 9, -1, 7 * 86_400 + 1, 1e9, 10.5, "60", null, true, [], {}, new Raw("1e999")),
          fc.integer({ max: 9 }),
          fc.integer({ min: 7 * 86_400 + 1 }),
        ),
      ),
      (b, [i, v]) => withStep(b, i, (step) => set(step, "timeoutSeconds", v)),
      [400],
    ),
    breaker(
      "approval:message-invalid",
      fc.oneof(wrongType("string"), fc.constant(""), hugeString(2_001, 300_000)),
      (b, message) => withNewSteps(b, { id: "zn-gate", kind: "approval", message }),
      [400],
    ),
    breaker(
      "approval:approvers-invalid",
      fc.oneof(
        fc.constantFrom<Json>([], [""], [null], [1], [["key"]], "key"),
        fc.integer({ min: 21, max: 500 }).map((n): Json => Array.from({ length: n }, (_, i) => `key-${i}`)),
        hugeString(65, 5_000).map((k): Json => [k]),
        wrongType("array"),
      ),
      (b, approvers) => withNewSteps(b, { id: "zn-gate", kind: "approval", message: "go?", approvers }),
      [400],
    ),
    breaker(
      "wait:seconds-invalid",
      fc.oneof(
        fc.constantFrom<Json>(0, -1, 86_401, 1e9, 1.5, "1", null, true, [], {}, new Raw("1e999"), new Raw("-0")),
        fc.integer({ max: 0 }),
        fc.integer({ min: 86_401 }),
      ),
      (b, seconds) => withNewSteps(b, { id: "zn-wait", kind: "wait", seconds }),
      [400],
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Path-parameter routes: POST /v1/tasks/{id}/cancel, DELETE /v1/keys/{id} and the plan routes

/** Percent-encodes what can be encoded; lone surrogates become their (invalid) UTF-8-style byte triplets. */
export function encodeSegment(s: string): string {
  let out = "";
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0xd800 && code <= 0xdfff) {
      const bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
      out += bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join("");
    } else out += encodeURIComponent(ch);
  }
  return out;
}

interface IdCase {
  family: string;
  /** The path segment as sent (already encoded, or raw on purpose). */
  segment: string;
  expected?: readonly number[];
}

const TRAVERSAL = [
  "..",
  "../",
  "..%2F",
  "..%2f",
  "%2e%2e",
  "%2e%2e%2f",
  "%2E%2E/",
  "..%5c",
  "..\\",
  "%252e%252e%252f",
  ".%2e/",
  "....//",
  "..;/",
  "%c0%ae%c0%ae%c0%af",
  "..%00/",
  "..%u2216",
  "%2e%2e%u2215",
];

/**
 * Path segments that name nothing the route may change: no such object, a malformed or oversized id, or an
 * object whose state refuses the change (`finished`, e.g. an already cancelled task: 409).
 */
function hostileIds(kind: "task" | "key" | "plan", fx: Fixtures, finished: readonly IdCase[]): fc.Arbitrary<IdCase> {
  const nonexistent =
    kind === "task"
      ? fc.stringMatching(/^tsk_[0-9a-z]{26}$/)
      : kind === "plan"
        ? fc.stringMatching(/^pln_[0-9a-hjkmnp-tv-z]{26}$/)
        : fc.stringMatching(/^[0-9a-f]{12}$/).filter((id) => !fx.keyIds.includes(id));
  return fc.oneof(
    nonexistent.map((id): IdCase => ({ family: "id:nonexistent", segment: id, expected: [404] })),
    ...(finished.length > 0 ? [fc.constantFrom(...finished)] : []),
    fc
      .string({ unit: "binary", minLength: 1, maxLength: 64 })
      .map((s): IdCase => ({ family: "id:random-unicode", segment: encodeSegment(s) })),
    fc
      .array(fc.constantFrom(...UNICODE_EDGE), { minLength: 1, maxLength: 6 })
      .map((parts): IdCase => ({ family: "id:unicode-edge", segment: encodeSegment(parts.join("")) })),
    fc.tuple(fc.constantFrom(...INJECTION), fc.boolean()).map(
      ([s, raw]): IdCase => ({
        family: `id:injection${raw ? "-raw" : ""}`,
        segment: raw ? s.replace(/[\s#?]/g, encodeURIComponent) : encodeSegment(s),
      }),
    ),
    fc
      .tuple(
        fc.array(fc.constantFrom(...TRAVERSAL), { minLength: 1, maxLength: 5 }),
        fc.stringMatching(/^[a-z]{0,6}$/),
        fc.constantFrom("", "keys", "tasks", "agents/diag", "v1", "etc/passwd"),
      )
      .map(
        ([steps, prefix, tail]): IdCase => ({ family: "id:traversal", segment: `${prefix}${steps.join("")}${tail}` }),
      ),
    fc
      .constantFrom(
        "a%2Fb",
        "%2F",
        "%2F%2F",
        "a/b",
        "%5C",
        "a%2F..%2Fb",
        "%00",
        "%",
        "%zz",
        "%E0%A4%A",
        "%ED%A0%80",
        "%C0%AF",
        "%FF%FE",
      )
      .map((segment): IdCase => ({ family: "id:encoded", segment })),
    fc
      .constantFrom("x?y=1", "?", "x#frag", "#", "x?", ";x", "x;jsessionid=1")
      .map((segment): IdCase => ({ family: "id:query-fragment", segment })),
    fc
      .integer({ min: 65, max: 5_000 })
      .map((n): IdCase => ({ family: "id:too-long", segment: "a".repeat(n), expected: [400] })),
    hugeString(65, 3_000).map((s): IdCase => ({ family: "id:too-long-unicode", segment: encodeSegment(s) })),
    fc.constant<IdCase>({ family: "id:empty", segment: "", expected: [404] }),
    fc
      .constantFrom(" ", "%20", "+", ".", "%2E", "*", "$", "null")
      .map((segment): IdCase => ({ family: "id:special", segment })),
  );
}

/** Step ids for the approve route, with a real plan: no such step (or a malformed, oversized id). */
function hostileStepIds(): fc.Arbitrary<IdCase> {
  const known: readonly string[] = Object.values(FIXTURE_STEPS);
  const fullWidth = (s: string) => [...s].map((c) => String.fromCharCode((c.codePointAt(0) ?? 0) + 0xfee0)).join("");
  return fc.oneof(
    fc
      .stringMatching(/^[a-z][a-z0-9_-]{0,39}$/)
      .filter((s) => !known.includes(s))
      .map((s): IdCase => ({ family: "step:nonexistent", segment: s, expected: [404] })),
    fc
      .constantFrom("constructor", "__proto__", "prototype", "toString", "hasOwnProperty", "valueOf", "length", "0")
      .map((s): IdCase => ({ family: "step:prototype-name", segment: encodeSegment(s), expected: [404] })),
    fc
      .tuple(fc.constantFrom(...known), fc.nat())
      .map(([id, k]) => {
        const variants = [id.toUpperCase(), `${id} `, ` ${id}`, `${id}\u200b`, `${id}\u0000`, `${id}-`, fullWidth(id)];
        return variants[k % variants.length] ?? id.toUpperCase();
      })
      .map((s): IdCase => ({ family: "step:near-miss", segment: encodeSegment(s), expected: [404] })),
    fc
      .integer({ min: 41, max: 5_000 })
      .map((n): IdCase => ({ family: "step:too-long", segment: "a".repeat(n), expected: [400] })),
    fc
      .string({ unit: "binary", minLength: 1, maxLength: 40 })
      .filter((s) => !known.includes(s))
      .map((s): IdCase => ({ family: "step:random-unicode", segment: encodeSegment(s) })),
    fc.tuple(fc.constantFrom(...INJECTION), fc.boolean()).map(
      ([s, raw]): IdCase => ({
        family: `step:injection${raw ? "-raw" : ""}`,
        segment: raw ? s.replace(/[\s#?]/g, encodeURIComponent) : encodeSegment(s),
      }),
    ),
    fc
      .tuple(fc.array(fc.constantFrom(...TRAVERSAL), { minLength: 1, maxLength: 5 }), fc.constantFrom("", "gate", "v1"))
      .map(([steps, tail]): IdCase => ({ family: "step:traversal", segment: `${steps.join("")}${tail}` })),
    fc
      .constantFrom("a%2Fb", "%2F", "a/b", "%00", "%", "%zz", "%ED%A0%80", "x?y=1", "#", ";x", "%20", ".", "*")
      .map((segment): IdCase => ({ family: "step:encoded", segment })),
    fc.constant<IdCase>({ family: "step:empty", segment: "", expected: [404] }),
  );
}

/** Noise that may come with a path-id request: no body, an (invalid) JSON body or a malformed one. */
const noiseBody = fc.oneof(
  fc.constant(undefined),
  fc
    .dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 3 })
    .map((o) => toJson(append(o as Obj, "hostile", true))),
  fc.constantFrom('{"reason":', "{,}", "null", "[]", '{"__proto__":{"polluted":"yes"},"hostile":true}'),
);

type PathIdRoute =
  | "POST /v1/tasks/{id}/cancel"
  | "DELETE /v1/keys/{id}"
  | "POST /v1/plans/{id}/cancel"
  | "POST /v1/plans/{id}/retry";

/** Plans the route may not change whatever the caller, with the status that says so. */
function refusingPlans(route: PathIdRoute, fx: Fixtures): IdCase[] {
  const p = fx.plans;
  if (route === "POST /v1/plans/{id}/cancel") {
    return [
      { family: "id:plan-succeeded", segment: p.succeededId, expected: [409] },
      { family: "id:plan-failed", segment: p.failedId, expected: [409] },
      { family: "id:plan-cancelled", segment: p.cancelledId, expected: [409] },
    ];
  }
  return [
    { family: "id:plan-succeeded", segment: p.succeededId, expected: [409] },
    { family: "id:plan-running", segment: p.runningId, expected: [409] },
    { family: "id:plan-waiting-approval", segment: p.gatedId, expected: [409] },
  ];
}

const allPlanIds = (fx: Fixtures) => [
  fx.plans.gatedId,
  fx.plans.runningId,
  fx.plans.succeededId,
  fx.plans.failedId,
  fx.plans.cancelledId,
];

function pathIdRequests(route: PathIdRoute, fx: Fixtures): fc.Arbitrary<HostileRequest> {
  const kind = route === "DELETE /v1/keys/{id}" ? "key" : route === "POST /v1/tasks/{id}/cancel" ? "task" : "plan";
  const method = kind === "key" ? "DELETE" : "POST";
  const pathOf = (segment: string) =>
    kind === "key"
      ? `/v1/keys/${segment}`
      : kind === "task"
        ? `/v1/tasks/${segment}/cancel`
        : `/v1/plans/${segment}/${route === "POST /v1/plans/{id}/cancel" ? "cancel" : "retry"}`;
  const finished: IdCase[] =
    kind === "task"
      ? [{ family: "id:already-cancelled", segment: fx.cancelledTaskId, expected: [409] }]
      : kind === "key"
        ? [
            { family: "id:already-revoked", segment: fx.revokedKeyId, expected: [409] },
            { family: "id:own-bootstrap-key", segment: "bootstrap", expected: [409] },
          ]
        : refusingPlans(route, fx);
  const hostile = fc.tuple(hostileIds(kind, fx, finished), noiseBody, noiseHeaders).map(([id, body, noise]) => {
    const headers: Record<string, string> = { ...noise, authorization: bearer(fx.adminToken) };
    if (body !== undefined) headers["content-type"] = "application/json";
    // a body is not read on these routes: its content does not change the expected status
    return new HostileRequest(route, id.family, method, pathOf(id.segment), headers, body, id.expected);
  });
  // targets for the denied/content-type/oversize families: the real objects are fair game there (plans the
  // admin could cancel or retry included)
  const realIds =
    kind === "task"
      ? [fx.queuedTaskId, fx.cancelledTaskId]
      : kind === "key"
        ? [...fx.keyIds, "bootstrap"]
        : allPlanIds(fx);
  const targets = fc
    .oneof(
      fc.constantFrom(...realIds),
      kind === "task"
        ? fc.stringMatching(/^tsk_[0-9a-z]{26}$/)
        : kind === "key"
          ? fc.stringMatching(/^[0-9a-f]{12}$/)
          : fc.stringMatching(/^pln_[0-9a-hjkmnp-tv-z]{26}$/),
    )
    .map((id): Target => ({ method, path: pathOf(id) }));
  const withBody = targets.map((t): Target => ({ ...t, body: '{"reason":"x","hostile":true}' }));
  return fc.oneof(
    { arbitrary: hostile, weight: 12 },
    { arbitrary: deniedFamily(fx, route, targets), weight: 4 },
    // jsonOnly applies to POST only: a DELETE with a text body is judged by its id (a real one here: 415 is not expected)
    ...(method === "POST" ? [{ arbitrary: contentTypeFamily(fx, route, withBody), weight: 1 }] : []),
    { arbitrary: oversizeFamily(fx, route, withBody), weight: 1 },
  );
}

/**
 * POST /v1/plans/{id}/steps/{stepId}/approve: a hostile plan id, a real plan with a hostile step id, or a
 * real step that cannot be approved by this caller (a gate naming other approvers: 403; not a gate, or a
 * gate already decided: 409). The body ({comment?}) is read here: an invalid one is a 400 first.
 */
function approveRequests(fx: Fixtures): fc.Arbitrary<HostileRequest> {
  const route: RouteName = "POST /v1/plans/{id}/steps/{stepId}/approve";
  const p = fx.plans;
  const S = FIXTURE_STEPS;
  const pathOf = (plan: string, step: string) => `/v1/plans/${plan}/steps/${step}/approve`;
  interface ApproveCase {
    family: string;
    plan: string;
    step: string;
    expected?: readonly number[];
    /** The path matches no route (an empty segment): a 404 whatever the body. */
    unrouted?: boolean;
  }
  const undecidable: ApproveCase[] = [
    { family: "decide:not-an-approver", plan: p.gatedId, step: S.gate, expected: [403] },
    { family: "decide:not-a-gate", plan: p.gatedId, step: S.after, expected: [409] },
    { family: "decide:not-a-gate", plan: p.runningId, step: S.work, expected: [409] },
    { family: "decide:not-a-gate", plan: p.succeededId, step: S.pause, expected: [409] },
    { family: "decide:not-a-gate", plan: p.cancelledId, step: S.pause, expected: [409] },
    { family: "decide:already-decided", plan: p.failedId, step: S.gate, expected: [409] },
  ];
  const cases: fc.Arbitrary<ApproveCase> = fc.oneof(
    { arbitrary: fc.constantFrom(...undecidable), weight: 2 },
    {
      arbitrary: fc.tuple(hostileIds("plan", fx, []), fc.constantFrom(...Object.values(S))).map(
        ([id, step]): ApproveCase => ({
          family: id.family,
          plan: id.segment,
          step,
          ...(id.expected ? { expected: id.expected } : {}),
          ...(id.family === "id:empty" ? { unrouted: true } : {}),
        }),
      ),
      weight: 5,
    },
    {
      arbitrary: fc.tuple(fc.constantFrom(...allPlanIds(fx)), hostileStepIds()).map(
        ([plan, id]): ApproveCase => ({
          family: id.family,
          plan,
          step: id.segment,
          ...(id.expected ? { expected: id.expected } : {}),
          ...(id.family === "step:empty" ? { unrouted: true } : {}),
        }),
      ),
      weight: 5,
    },
  );
  const bodies: fc.Arbitrary<{ body: string | undefined; valid: boolean }> = fc.oneof(
    fc.constant({ body: undefined, valid: true }),
    fc.constant({ body: "{}", valid: true }),
    hostileString.map((comment) => ({ body: toJson({ comment }), valid: true })),
    fc
      .oneof(
        noiseBody.filter((b): b is string => b !== undefined),
        fc.oneof(wrongType("string"), hugeString(2_001, 20_000)).map((comment) => toJson({ comment })),
        fc.constantFrom(
          '{"comment":"ok","approve":true}',
          '{"approved":false}',
          '{"by":"bootstrap"}',
          '{"decidedBy":"bootstrap"}',
          '{"__proto__":{"comment":"x"}}',
          '{"comment":"a","comment":5}',
        ),
      )
      .map((body) => ({ body, valid: false })),
  );
  const hostile = fc.tuple(cases, bodies, noiseHeaders).map(([c, { body, valid }, noise]) => {
    const headers: Record<string, string> = { ...noise, authorization: bearer(fx.adminToken) };
    if (body !== undefined) headers["content-type"] = "application/json";
    const expected = valid || c.unrouted ? c.expected : c.expected ? [400] : undefined;
    const family = `${c.family}${valid ? "" : "+invalid-body"}`;
    return new HostileRequest(route, family, "POST", pathOf(c.plan, c.step), headers, body, expected);
  });
  // the denied/content-type/oversize families aim at real gates too (the open one and decided ones)
  const targets = fc
    .oneof(
      fc.constantFrom(...undecidable).map((c) => pathOf(c.plan, c.step)),
      fc.constantFrom(...allPlanIds(fx)).map((plan) => pathOf(plan, S.gate)),
      fc.stringMatching(/^pln_[0-9a-hjkmnp-tv-z]{26}$/).map((plan) => pathOf(plan, S.gate)),
    )
    .chain((path) =>
      fc.constantFrom<Target>({ method: "POST", path }, { method: "POST", path, body: '{"comment":"ok"}' }),
    );
  const withBody = targets.map((t): Target => ({ ...t, body: '{"comment":"x","hostile":true}' }));
  return fc.oneof(
    { arbitrary: hostile, weight: 12 },
    { arbitrary: deniedFamily(fx, route, targets), weight: 4 },
    { arbitrary: contentTypeFamily(fx, route, withBody), weight: 1 },
    { arbitrary: oversizeFamily(fx, route, withBody), weight: 1 },
  );
}

// ---------------------------------------------------------------------------------------------------------

const BODY_ROUTES = ["POST /v1/agents", "POST /v1/tasks", "POST /v1/plans", "POST /v1/keys"] as const;
type BodyRoute = (typeof BODY_ROUTES)[number];

/** The generator of hostile requests for one route. */
export function hostileRequests(route: RouteName, fx: Fixtures): fc.Arbitrary<HostileRequest> {
  if (route === "POST /v1/plans/{id}/steps/{stepId}/approve") return approveRequests(fx);
  if (!(BODY_ROUTES as readonly string[]).includes(route)) return pathIdRequests(route as PathIdRoute, fx);
  const path = route.split(" ")[1] ?? "";
  const [base, breakers] =
    route === "POST /v1/agents"
      ? [validAgent, agentBreakers()]
      : route === "POST /v1/tasks"
        ? [validTask(fx), taskBreakers(fx)]
        : route === "POST /v1/plans"
          ? [validPlan(fx), planBreakers(fx)]
          : [validKey(fx), keyBreakers(fx)];
  const validText = base.map((b) => toJson(b));
  const targets = validText.map((body): Target => ({ method: "POST", path, body }));
  return fc.oneof(
    { arbitrary: bodyFamily(fx, route, path, breakers, base), weight: 14 },
    { arbitrary: deniedFamily(fx, route, targets), weight: 3 },
    { arbitrary: contentTypeFamily(fx, route, targets), weight: 1 },
    { arbitrary: malformedFamily(fx, route, validText, path), weight: 2 },
    { arbitrary: oversizeFamily(fx, route, targets), weight: 1 },
  );
}

/**
 * Samples of the valid bodies the body families break (for the control test). Plans are samples with
 * `dryRun: true`: validated like any plan, but neither stored nor run.
 */
export function baseBodies(fx: Fixtures, count = 20): Record<BodyRoute, Obj[]> {
  return {
    "POST /v1/agents": fc.sample(validAgent, count).map(freshen),
    "POST /v1/tasks": fc.sample(validTask(fx), count).map(freshen),
    "POST /v1/plans": fc.sample(validPlan(fx), count).map((plan) => ({ ...plan, dryRun: true })),
    "POST /v1/keys": fc.sample(validKey(fx), count).map(freshen),
  };
}
