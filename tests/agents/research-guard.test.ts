import { readFileSync } from "node:fs";
import { join } from "node:path";
import { scrub, validateParams } from "@nexus/core";
import { describe, expect, it } from "vitest";
import { extractHtml } from "../../packages/agents/src/research/extract.js";
import { researchSpec } from "../../packages/agents/src/research/spec.js";
import {
  blockedReason,
  checkTarget,
  parseAllowList,
  pinnedPolicy,
  type Resolver,
  type SsrfPolicy,
} from "../../packages/agents/src/research/ssrf.js";
import { ParamsSchemaSchema } from "../../packages/core/src/params-schema.js";

const fixture = (name: string) => readFileSync(join(import.meta.dirname, "fixtures", "research", name), "utf8");

/** Names the tests give addresses; anything else does not resolve (no query leaves the machine). */
const names: Record<string, string[]> = {
  "public.test": ["93.184.216.34"],
  "public6.test": ["2606:2800:220:1:248:1893:25c8:1946"],
  "private.test": ["10.0.0.1"],
  "metadata.test": ["169.254.169.254"],
  "mixed.test": ["93.184.216.34", "10.0.0.1"],
  "mapped.test": ["::ffff:127.0.0.1"],
  "loop.test": ["127.0.0.1"],
};
const resolver: Resolver = async (hostname) => {
  const answer = names[hostname];
  if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
  return answer;
};
const policy = (allow = ""): SsrfPolicy => ({ allow: parseAllowList(allow), resolve: resolver });

async function refusal(url: string, allow = "") {
  try {
    await checkTarget(url, policy(allow));
  } catch (error) {
    return error as { code: string; retriable: boolean; message: string };
  }
  return undefined;
}

describe("research spec", () => {
  it("declares params every action's schema in the params language (strict subset)", () => {
    for (const action of researchSpec.actions) {
      const result = ParamsSchemaSchema.safeParse(action.params);
      expect(result.success, `${action.name}: ${JSON.stringify(result.error?.issues)}`).toBe(true);
    }
    expect(researchSpec.actions.map((a) => a.name)).toEqual(["fetch_page", "render_page", "lookup", "health"]);
  });

  it("refuses non-http(s) URLs already at the schema, naming the field", () => {
    const fetchPage = researchSpec.actions.find((a) => a.name === "fetch_page");
    if (!fetchPage?.params) throw new Error("fetch_page has no params schema");
    for (const url of ["file:///etc/passwd", "gopher://127.0.0.1:70/_x", "javascript:alert(1)", "ftp://x.test/"]) {
      const issues = validateParams(fetchPage.params, { url });
      expect(issues.map((i) => i.path)).toContain("params.url");
    }
    expect(validateParams(fetchPage.params, { url: "https://example.org/a" })).toEqual([]);
    expect(validateParams(fetchPage.params, { url: "https://example.org/a", extra: 1 })).not.toEqual([]);
  });
});

describe("SSRF guard: addresses", () => {
  it.each([
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["169.254.169.254", "linkLocal"],
    ["100.64.0.1", "carrierGradeNat"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["ff02::1", "multicast"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:169.254.169.254", "IPv4-mapped linkLocal"],
    ["::ffff:0:a00:1", "IPv4-mapped private"],
    ["64:ff9b::a00:1", "NAT64 private"],
    ["64:ff9b::7f00:1", "NAT64 loopback"],
    ["64:ff9b:1::1", "local-use NAT64"],
    ["2002:7f00:1::1", "6to4 loopback"],
    ["2001::1", "teredo"],
    ["::7f00:1", "reserved IPv6"],
    ["2001:db8::1", "reserved"],
  ])("refuses %s (%s)", (ip, reason) => {
    expect(blockedReason(ip)).toContain(reason);
  });

  it.each([
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:2800:220:1:248:1893:25c8:1946",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
  ])("lets public %s through", (ip) => {
    expect(blockedReason(ip)).toBeUndefined();
  });

  it("treats anything that is not an IP as refused", () => {
    expect(blockedReason("localhost")).toBeDefined();
    expect(blockedReason("2130706433")).toBeDefined();
  });
});

describe("SSRF guard: URLs", () => {
  it.each([
    ["http://10.0.0.1/", "private"],
    ["https://169.254.169.254/latest/meta-data/", "linkLocal"],
    ["http://[::1]:8080/", "loopback"],
    ["http://0.0.0.0/", "unspecified"],
    ["http://2130706433/", "127.0.0.1"],
    ["http://0x7f000001/", "127.0.0.1"],
    ["http://0x7f.1/", "127.0.0.1"],
    ["http://017700000001/", "127.0.0.1"],
    ["http://0177.0.0.1/", "127.0.0.1"],
    ["http://127.1/", "127.0.0.1"],
    ["http://0xa9fea9fe/", "169.254.169.254"],
    ["http://[::ffff:127.0.0.1]/", "loopback"],
    ["http://[::ffff:a9fe:a9fe]/", "linkLocal"],
    ["http://[64:ff9b::a9fe:a9fe]/", "NAT64"],
    ["http://[fe80::1]/", "linkLocal"],
    ["http://[fd00::1]/", "uniqueLocal"],
    ["http://100.100.100.200/", "carrierGradeNat"],
    ["http://private.test/", "resolved from 'private.test'"],
    ["http://metadata.test/", "169.254.169.254"],
    ["http://mixed.test/", "10.0.0.1"],
    ["http://mapped.test/", "loopback"],
    ["file:///etc/passwd", "scheme 'file'"],
    ["gopher://127.0.0.1:70/_x", "scheme 'gopher'"],
    ["ftp://public.test/", "scheme 'ftp'"],
    ["http://user:pass@public.test/", "credentials"],
    ["http://user@public.test/", "credentials"],
    ["not a url", "not a valid absolute URL"],
  ])("refuses %s", async (url, words) => {
    const error = await refusal(url);
    expect(error).toMatchObject({ code: "ssrf_blocked", retriable: false });
    expect(error?.message).toContain(words);
  });

  it("does not resolve names that do not exist into anything: a non-retriable dns_not_found", async () => {
    expect(await refusal("http://nowhere.test/")).toMatchObject({ code: "dns_not_found", retriable: false });
  });

  it("returns the one checked address to connect to, keeping the name for Host and SNI", async () => {
    const target = await checkTarget("https://public.test/a?b=1", policy());
    expect(target).toMatchObject({ hostname: "public.test", port: 443, address: "93.184.216.34", family: 4 });
    const six = await checkTarget("http://public6.test:8080/", policy());
    expect(six).toMatchObject({ port: 8080, family: 6 });
    const literal = await checkTarget("http://[2606:2800:220:1:248:1893:25c8:1946]/", policy());
    expect(literal.address).toBe("2606:2800:220:1:248:1893:25c8:1946");
  });

  it("allow-lists addresses, ranges, names and ports exactly", async () => {
    expect(await refusal("http://127.0.0.1:8080/", "127.0.0.1")).toBeUndefined();
    expect(await refusal("http://2130706433:8080/", "127.0.0.1")).toBeUndefined();
    expect(await refusal("http://[::ffff:127.0.0.1]:8080/", "127.0.0.1")).toBeUndefined();
    expect(await refusal("http://mapped.test/", "127.0.0.1")).toBeUndefined();
    expect(await refusal("http://127.0.0.1:8080/", "127.0.0.1:8080")).toBeUndefined();
    expect(await refusal("http://127.0.0.1:8081/", "127.0.0.1:8080")).toMatchObject({ code: "ssrf_blocked" });
    expect(await refusal("http://127.0.0.2:8080/", "127.0.0.1:8080")).toMatchObject({ code: "ssrf_blocked" });
    expect(await refusal("http://10.1.2.3/", "10.1.0.0/16")).toBeUndefined();
    expect(await refusal("http://10.2.0.1/", "10.1.0.0/16")).toMatchObject({ code: "ssrf_blocked" });
    expect(await refusal("http://[::1]:9000/", "[::1]:9000")).toBeUndefined();
    expect(await refusal("http://private.test/", "private.test")).toBeUndefined();
    expect(await refusal("http://private.test:81/", "private.test:80")).toMatchObject({ code: "ssrf_blocked" });
    // a name on the list does not open the address it resolves to for other names
    expect(await refusal("http://10.0.0.1/", "private.test")).toMatchObject({ code: "ssrf_blocked" });
    // the allow-list never opens other schemes or credentials
    expect(await refusal("file:///etc/passwd", "127.0.0.1")).toMatchObject({ code: "ssrf_blocked" });
    expect(await refusal("http://a:b@127.0.0.1/", "127.0.0.1")).toMatchObject({ code: "ssrf_blocked" });
  });

  it("reads NEXUS_SSRF_ALLOW and refuses entries it cannot read", () => {
    expect(parseAllowList(" 127.0.0.1:8080, 10.0.0.0/8 ,intranet.example,[::1]:9000, ,fd00::/8").length).toBe(5);
    expect(parseAllowList(undefined)).toEqual([]);
    for (const bad of ["127.0.0.1:99999", "10.0.0.0/99", "bad host", "http://x", "..", "a..b"]) {
      expect(() => parseAllowList(bad), bad).toThrow(/NEXUS_SSRF_ALLOW/);
    }
  });

  it("answers each name once per pinned policy, so every check in a task sees the same addresses", async () => {
    let calls = 0;
    const flipping: Resolver = async () => (++calls === 1 ? ["93.184.216.34"] : ["10.0.0.1"]);
    const pinned = pinnedPolicy({ allow: [], resolve: flipping });
    await checkTarget("http://flip.test/a", pinned);
    await checkTarget("http://flip.test/b", pinned);
    expect(calls).toBe(1);
    // an unpinned policy asks again, and is refused on the second answer
    await expect(checkTarget("http://flip.test/", { allow: [], resolve: flipping })).rejects.toMatchObject({
      code: "ssrf_blocked",
    });
  });
});

describe("readable text", () => {
  it("extracts title, byline, excerpt, paragraph text and absolute http(s) links", async () => {
    const page = await extractHtml(fixture("article.html"), "http://news.test/2024/tides.html");
    expect(page.title).toContain("Tides of the North Sea");
    expect(page.byline).toBe("Marta Jensen");
    expect(page.text).toContain("amphidromic points");
    expect(page.text).toMatch(/open ocean\.[^\n]*\n+[^\n]*The reason lies/);
    expect(page.text).not.toContain("Write to the editor");
    const hrefs = page.links.map((l) => l.href);
    expect(hrefs).toContain("http://news.test/about.html");
    expect(hrefs).toContain("http://news.test/2024/tides/amphidromic.html");
    expect(hrefs).toContain("http://news.test/archive/1953.html");
    expect(hrefs).toContain("https://example.org/elsewhere");
    expect(hrefs.some((h) => h.startsWith("mailto:") || h.startsWith("javascript:"))).toBe(false);
    expect(page.links.find((l) => l.href.endsWith("/amphidromic.html"))?.text).toBe(
      "our explainer on amphidromic points",
    );
  });

  it("keeps only http(s) links, resolved against <base href>, without fragments or duplicates", async () => {
    const html = `<html><head><base href="https://cdn.test/docs/"></head><body>
      <a href="javascript:alert(1)">js</a><a href="data:text/html,x">data</a><a href="a.html#part">A</a>
      <a href="a.html">A again</a><a href="//other.test/b">B</a><a href="http://[bad">bad</a></body></html>`;
    expect((await extractHtml(html, "http://page.test/x")).links).toEqual([
      { href: "https://cdn.test/docs/a.html", text: "A" },
      { href: "https://other.test/b", text: "B" },
    ]);
  });

  it("caps text and links so a result fits a task", async () => {
    const many = Array.from({ length: 500 }, (_, i) => `<a href="/p/${i}">link ${i}</a>`).join("");
    const html = `<html><head><title>Big</title></head><body><p>${"é".repeat(200_000)}</p>${many}</body></html>`;
    const page = await extractHtml(html, "http://big.test/");
    expect(Buffer.byteLength(page.text)).toBeLessThanOrEqual(100 * 1024);
    expect(page.truncated).toEqual({ text: true, links: true });
    expect(page.links.length).toBe(200);
  });

  it("scrubs secrets, raw and URL-encoded, from messages", () => {
    expect(scrub("key abc+/123= or abc%2B%2F123%3D", ["abc+/123="])).toBe("key [redacted] or [redacted]");
  });
});
