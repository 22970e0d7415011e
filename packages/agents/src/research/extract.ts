import type { Readability } from "@mozilla/readability";
import { once } from "@nexus/core";

/** linkedom and Readability (some 490 KB with their HTML and CSS parsers), loaded with the first HTML page. */
const parsers = once(async () => {
  const [{ Readability }, { parseHTML }] = await Promise.all([import("@mozilla/readability"), import("linkedom")]);
  return { Readability, parseHTML };
});

/** Caps that keep a page's result well inside a task result's 256 KB. */
export const LIMITS = {
  textBytes: 100 * 1024,
  links: 200,
  linkBytes: 64 * 1024,
  hrefChars: 2048,
  linkTextChars: 200,
  titleChars: 1000,
  excerptChars: 1000,
  bylineChars: 500,
} as const;

export interface Link {
  href: string;
  text: string;
}

export interface Extracted {
  title: string | null;
  byline: string | null;
  excerpt: string | null;
  text: string;
  links: Link[];
  truncated: { text: boolean; links: boolean };
}

/** Truncates to at most `maxBytes` of UTF-8, at a character boundary. */
export function capBytes(text: string, maxBytes: number): { text: string; truncated: boolean } {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return { text, truncated: false };
  let cut = Buffer.from(text, "utf8").subarray(0, maxBytes).toString("utf8");
  // a cut inside a multi-byte character decodes to U+FFFD: drop it
  if (cut.endsWith("\uFFFD")) cut = cut.slice(0, -1);
  return { text: cut, truncated: true };
}

const clip = (text: string | null | undefined, max: number) => {
  const clean = (text ?? "").replace(/\s+/g, " ").trim();
  return clean ? clean.slice(0, max) : null;
};

/** Collapses a page's whitespace: runs of blanks to one, at most one empty line between blocks. */
export function tidyText(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .replace(/[ \t\f\v\u00a0]+/g, " ")
    .replace(/ *\n */g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** Absolute http(s) links, deduplicated, capped in number and bytes. */
export function collectLinks(raw: Iterable<{ href: string; text: string }>, base: string) {
  const links: Link[] = [];
  const seen = new Set<string>();
  let bytes = 0;
  let truncated = false;
  for (const { href, text } of raw) {
    let absolute: URL;
    try {
      absolute = new URL(href.trim(), base);
    } catch {
      continue;
    }
    if (absolute.protocol !== "http:" && absolute.protocol !== "https:") continue;
    absolute.hash = "";
    const value = absolute.toString();
    if (value.length > LIMITS.hrefChars || seen.has(value)) continue;
    const link = { href: value, text: (clip(text, LIMITS.linkTextChars) ?? "") as string };
    const size = Buffer.byteLength(link.href) + Buffer.byteLength(link.text) + 20;
    if (links.length >= LIMITS.links || bytes + size > LIMITS.linkBytes) {
      truncated = true;
      break;
    }
    seen.add(value);
    links.push(link);
    bytes += size;
  }
  return { links, truncated };
}

const BLOCK = new Set([
  "ADDRESS",
  "ARTICLE",
  "ASIDE",
  "BLOCKQUOTE",
  "BR",
  "DD",
  "DIV",
  "DL",
  "DT",
  "FIGCAPTION",
  "FIGURE",
  "FOOTER",
  "H1",
  "H2",
  "H3",
  "H4",
  "H5",
  "H6",
  "HEADER",
  "HR",
  "LI",
  "MAIN",
  "NAV",
  "OL",
  "P",
  "PRE",
  "SECTION",
  "TABLE",
  "TR",
  "UL",
]);
const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "SVG", "HEAD"]);

interface DomNode {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<DomNode>;
}

/** The text of a DOM subtree with a line break around every block element (textContent runs paragraphs together). */
function blockText(root: DomNode): string {
  const parts: string[] = [];
  const walk = (node: DomNode, pre: boolean) => {
    if (node.nodeType === 3) {
      const text = node.textContent ?? "";
      // outside <pre>, a source line break is a space, as a browser renders it
      parts.push(pre ? text : text.replace(/[ \t\n\r\f]+/g, " "));
      return;
    }
    if (node.nodeType !== 1 && node.nodeType !== 9 && node.nodeType !== 11) return;
    const name = node.nodeName.toUpperCase();
    if (SKIP.has(name)) return;
    const block = BLOCK.has(name);
    if (block) parts.push("\n");
    for (let i = 0; i < node.childNodes.length; i++) {
      const child = node.childNodes[i];
      if (child) walk(child, pre || name === "PRE");
    }
    if (block) parts.push("\n");
  };
  walk(root, false);
  return tidyText(parts.join(""));
}

/**
 * Readable text of an HTML page: Readability on a linkedom DOM for title, byline, excerpt and article text;
 * the whole body's text when Readability finds no article. Links come from the whole page, resolved against
 * the page's URL (or its `<base href>`).
 */
export async function extractHtml(html: string, pageUrl: string): Promise<Extracted> {
  const { Readability, parseHTML } = await parsers();
  const { document } = parseHTML(html);
  const baseHref = document.querySelector("base[href]")?.getAttribute("href");
  let base = pageUrl;
  if (baseHref) {
    try {
      base = new URL(baseHref, pageUrl).toString();
    } catch {
      // an invalid <base> is ignored, as browsers do
    }
  }
  const anchors = [...document.querySelectorAll("a[href]")].map((a) => ({
    href: a.getAttribute("href") ?? "",
    text: a.textContent ?? "",
  }));
  const { links, truncated: linksTruncated } = collectLinks(anchors, base);
  const pageTitle = document.title;
  const bodyText = document.body ? blockText(document.body as unknown as DomNode) : "";

  // Readability changes the document it reads: it runs last.
  let article: ReturnType<Readability["parse"]> = null;
  try {
    article = new Readability(document as unknown as ConstructorParameters<typeof Readability>[0]).parse();
  } catch {
    article = null;
  }
  let text = bodyText;
  if (article?.content) {
    const { document: content } = parseHTML(`<!doctype html><html><body>${article.content}</body></html>`);
    const articleText = content.body ? blockText(content.body as unknown as DomNode) : "";
    if (articleText) text = articleText;
  }
  const capped = capBytes(text, LIMITS.textBytes);
  return {
    title: clip(article?.title || pageTitle, LIMITS.titleChars),
    byline: clip(article?.byline, LIMITS.bylineChars),
    excerpt: clip(article?.excerpt, LIMITS.excerptChars),
    text: capped.text,
    links,
    truncated: { text: capped.truncated, links: linksTruncated },
  };
}
