import * as Plans from "@nexus/core/plans";

/**
 * Reading a goal written in plain words: its URLs, where the "and then send it" part starts, who it is sent to
 * and how. Only what is written is taken: nothing is completed or corrected, and a part a rule does not
 * understand is reported ({@link unexplained}) rather than skipped.
 */

/** Ways of sending something out, in the order their steps are written. */
export const MEDIUMS = ["email", "sms", "chat"] as const;
export type Medium = (typeof MEDIUMS)[number];

export interface Goal {
  /** The goal, whitespace collapsed, a polite opening and closing punctuation removed. */
  text: string;
  /** What to do before sending: the goal up to the delivery part (all of it when there is none). */
  source: string;
  /** The delivery part ("email a summary to ops@example.com"), when the goal has one. */
  delivery: string | undefined;
  /** Whether the goal starts with the delivery ("email ops@example.com a summary of https://…"). */
  deliveryFirst: boolean;
  /** Absolute http(s) URLs, in order, trailing punctuation removed. */
  urls: string[];
}

export interface Delivery {
  /** How to send: named in the goal ("email", "by SMS", "post") or implied by a recipient. */
  mediums: Medium[];
  emails: string[];
  phones: string[];
  channels: string[];
}

const POLITE = /^(?:please|kindly|can you|could you|would you)\s+/i;
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;
const SEND_VERB = "(?:e-?mail|mail|send|sms|text|post|notify|message|tell|alert|share|forward|slack)";
/** ", then email …", " and send …", " then notify …": where the delivery part starts. */
const DELIVERY_START = new RegExp(
  `(?:\\s*,\\s*(?:and\\s+)?(?:then\\s+)?|\\s+(?:and\\s+then|then|and)\\s+)(?:also\\s+)?(?=${SEND_VERB}\\b)`,
  "i",
);
const DELIVERY_FIRST = new RegExp(`^${SEND_VERB}\\b`, "i");

const EMAIL = /[A-Za-z0-9._%+'!#$&*=?^`|~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const PHONE = /(?<![\w+])\+\d[\d ().-]{5,18}\d(?!\w)/g;
const CHANNELS = [
  /(?<=^|[\s(])#([a-z0-9][\w-]*)/gi,
  /\bchannel\s+#?([a-z0-9][\w-]*)/gi,
  /\b(?<=(?:to|in|on|into)\s+(?:the\s+|our\s+)?)#?([a-z0-9][\w-]*)\s+(?:slack\s+|teams\s+|chat\s+)?channel\b/gi,
];
/** Words that follow "channel" or precede it without naming one ("post to the channel and …"). */
const NOT_CHANNELS = new Set(["a", "an", "and", "the", "then", "our", "to", "with"]);
const MEDIUM_VERB: Array<[RegExp, Medium]> = [
  [/^(?:e-?mail|mail)\b/i, "email"],
  [/^(?:sms|text)\b/i, "sms"],
  [/^(?:post|slack)\b/i, "chat"],
];
const MEDIUM_PHRASE: Array<[RegExp, Medium]> = [
  [/\b(?:by|via|over|as|in|through)\s+(?:an?\s+)?e-?mail\b/i, "email"],
  [/\b(?:by|via|over|as|in|through)\s+(?:an?\s+)?(?:sms|text(?:\s+message)?)\b|\bsms\b/i, "sms"],
  [/\b(?:by|via|over|as|in|on|through|to)\s+(?:an?\s+|the\s+)?(?:slack|teams|chat)\b/i, "chat"],
];

/** Reads a goal's parts. */
export function parseGoal(raw: string): Goal {
  const text = raw
    .replace(/\s+/g, " ")
    .trim()
    .replace(POLITE, "")
    .replace(/[.!]+$/, "");
  if (text.includes("{{") || text.includes("}}")) {
    throw new Plans.CannotPlanError(
      "the goal contains '{{' or '}}': the rules planner writes step references itself and passes none through",
    );
  }
  const urls = [...text.matchAll(URL_PATTERN)].map((m) => m[0].replace(TRAILING, ""));
  if (DELIVERY_FIRST.test(text)) return { text, source: "", delivery: text, deliveryFirst: true, urls };
  const split = DELIVERY_START.exec(text);
  if (!split) return { text, source: text, delivery: undefined, deliveryFirst: false, urls };
  return {
    text,
    source: text.slice(0, split.index).trim(),
    delivery: text.slice(split.index + split[0].length).trim(),
    deliveryFirst: false,
    urls,
  };
}

const strip = (value: string) => value.replace(TRAILING, "");

/** Who a delivery part sends to and how; URLs are not mistaken for recipients. */
export function parseDelivery(clause: string): Delivery {
  const text = clause.replace(URL_PATTERN, " ");
  const emails = unique([...text.matchAll(EMAIL)].map((m) => strip(m[0])));
  const phones = unique([...text.matchAll(PHONE)].map((m) => m[0].replace(/[ ().-]/g, "")));
  const channels = unique(
    CHANNELS.flatMap((pattern) => [...text.matchAll(pattern)].map((m) => (m[1] ?? "").toLowerCase())).filter(
      (name) => name !== "" && !NOT_CHANNELS.has(name),
    ),
  );
  const named = new Set<Medium>();
  const verb = text.replace(/^(?:and\s+|then\s+|also\s+)+/i, "");
  for (const [pattern, medium] of MEDIUM_VERB) if (pattern.test(verb)) named.add(medium);
  for (const [pattern, medium] of MEDIUM_PHRASE) if (pattern.test(text)) named.add(medium);
  if (emails.length > 0) named.add("email");
  if (phones.length > 0) named.add("sms");
  if (channels.length > 0) named.add("chat");
  return { mediums: MEDIUMS.filter((m) => named.has(m)), emails, phones, channels };
}

/**
 * The words of `clause` that are none of `understood` once URLs, addresses, phone numbers and channels are
 * taken out: what a rule would otherwise ignore. Empty when the rule understood everything.
 */
export function unexplained(clause: string, understood: ReadonlySet<string>): string[] {
  let text = clause.replace(URL_PATTERN, " ").replace(EMAIL, " ").replace(PHONE, " ");
  for (const pattern of CHANNELS) text = text.replace(pattern, " ");
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu) ?? [];
  return words.filter((word) => !understood.has(word));
}

/** Words any delivery part may hold besides its recipients. */
export const DELIVERY_WORDS = new Set(
  (
    "and then also please it its this that these them the a an to me us by via over as in on at through of for " +
    "with from summary summaries summarize summarise summarized short brief quick result results output outputs " +
    "report findings status answer response text message messages sms email e-mail mail emailed send sent post " +
    "notify notification alert tell share forward slack teams chat channel page article site website url link " +
    "content contents back what found"
  ).split(" "),
);

/**
 * A command line split into words: "…" and '…' group words (quotes removed); nothing else is interpreted
 * (no globbing, variables or pipes: run_command passes arguments as they are).
 */
export function splitCommandLine(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
