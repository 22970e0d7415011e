/**
 * What keeps secrets out of everything Nexus writes down: log records (log.ts runs every record through
 * {@link redact}), error messages built from provider answers ({@link scrub}). Three nets:
 *
 * - values under a secret-sounding key (`authorization`, `password`, `token`, `apiKey`, `secret`, `webhookUrl`, …);
 * - secrets by their shape anywhere in a string: Nexus API keys (`nxk_<id>_<secret>` keeps its public id),
 *   `Bearer …` credentials, passwords in URLs (`https://user:pass@host`);
 * - every value read from Secrets Manager in this process ({@link rememberSecret}; secrets.ts does it), wherever it
 *   turns up, and its URL-encoded form.
 */

export const REDACTED = "[redacted]";

/** Keys whose values are never written down (matched case-insensitively, ignoring `-` and `_`). */
const SECRET_KEY =
  /^(authorization|proxyauthorization|cookie|setcookie|password|passwd|passphrase|secret|clientsecret|secretkey|secretaccesskey|token|accesstoken|refreshtoken|idtoken|sessiontoken|authtoken|tasktoken|apikey|xapikey|key|privatekey|credentials?|webhookurl|webhook|signature)$/;

const isSecretKey = (key: string) => SECRET_KEY.test(key.toLowerCase().replace(/[-_]/g, ""));

/** Nexus API keys keep their public prefix and id; the secret part goes. */
const API_KEY = /\b(nxk_[0-9a-z]{12}_)[A-Za-z0-9_-]{8,}/g;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+(@)/gi;

const known = new Set<string>();

/** Shorter values are too likely to occur by chance to be scrubbed from text. */
const MIN_SECRET_LENGTH = 6;

/**
 * Remembers a secret's value so that no log record carries it: the whole string, and each string inside it when it
 * is a JSON object (provider credentials are kept as `{"authToken": "…"}`).
 */
export function rememberSecret(value: string): void {
  const add = (s: string) => {
    if (s.length >= MIN_SECRET_LENGTH) known.add(s);
  };
  add(value);
  try {
    const walk = (v: unknown): void => {
      if (typeof v === "string") add(v);
      else if (v && typeof v === "object") for (const inner of Object.values(v)) walk(inner);
    };
    const parsed: unknown = JSON.parse(value);
    if (parsed && typeof parsed === "object") walk(parsed);
  } catch {
    // not JSON: the whole value is the secret
  }
}

/** Replaces every occurrence of each secret (and its URL-encoded form) in a message. */
export function scrub(message: string, secrets: Iterable<string>): string {
  let out = message;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join(REDACTED);
  }
  return out;
}

/** A string with secrets of known shape and every remembered secret replaced. */
export function redactText(text: string): string {
  const shaped = text
    .replace(API_KEY, `$1${REDACTED}`)
    .replace(BEARER, `$1${REDACTED}`)
    .replace(URL_PASSWORD, `$1${REDACTED}$2`);
  return known.size === 0 ? shaped : scrub(shaped, known);
}

/**
 * A copy of a value (a log record's attributes) with secrets redacted: values under secret-sounding keys, and
 * secrets inside any string. Errors become plain objects (name, message, stack) first, so that their text is
 * redacted too.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object" || depth > 20) return value;
  if (value instanceof Error) {
    const { name, message, stack } = value;
    const cause = (value as { cause?: unknown }).cause;
    const own = Object.fromEntries(Object.entries(value));
    return redact({ ...own, name, message, stack, ...(cause !== undefined ? { cause } : {}) }, depth + 1);
  }
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] =
      isSecretKey(key) && inner !== null && inner !== undefined && inner !== "" ? REDACTED : redact(inner, depth + 1);
  }
  return out;
}
