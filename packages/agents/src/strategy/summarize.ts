/**
 * Extractive summaries without any service: the text is split into sentences, each sentence is scored by the
 * normalized frequency of its content words (stop words left out) with a small bonus for coming early, and
 * the best sentences are kept in their original order. Pure and deterministic: the same text and count give
 * the same summary.
 */

export interface Summary {
  /** The kept sentences joined by a space. */
  summary: string;
  /** The kept sentences, in the order the text has them. */
  sentences: string[];
  /** How many sentences the whole text has. */
  sentenceCount: number;
}

/** Sentences with fewer words are headings or fragments: kept only when the text has nothing longer. */
const MIN_WORDS = 4;
/** Longer "sentences" are unpunctuated runs (menus, tables): kept only when the text has nothing shorter. */
const MAX_WORDS = 150;
/** The first sentence's score is raised by this fraction; the bonus falls linearly to 0 at the last one. */
const POSITION_BONUS = 0.15;

/** Abbreviations after which a period never ends a sentence (compared lower-case, without the period). */
const ABBREVIATIONS = new Set([
  "mr",
  "mrs",
  "ms",
  "messrs",
  "dr",
  "prof",
  "sr",
  "jr",
  "st",
  "mt",
  "gen",
  "gov",
  "sen",
  "rep",
  "rev",
  "hon",
  "lt",
  "col",
  "capt",
  "sgt",
  "vs",
  "cf",
  "viz",
  "al",
  "approx",
  "dept",
  "esp",
  "ca",
  "e.g",
  "i.e",
]);
/** Abbreviations that end no sentence when a number follows ("No. 5", "Fig. 2", "Jan. 3"). */
const BEFORE_NUMBER = new Set([
  "no",
  "nos",
  "fig",
  "figs",
  "vol",
  "p",
  "pp",
  "ch",
  "sec",
  "art",
  "op",
  "jan",
  "feb",
  "mar",
  "apr",
  "jun",
  "jul",
  "aug",
  "sep",
  "sept",
  "oct",
  "nov",
  "dec",
]);

const STOP_WORDS = new Set(
  (
    "a about above after again against all also am an and any are aren't as at be because been before being below " +
    "between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each " +
    "either else ever every few for from further had hadn't has hasn't have haven't having he he'd he'll he's her " +
    "here here's hers herself him himself his how how's however i i'd i'll i'm i've if in into is isn't it it's its " +
    "itself just let's like may me might more most much must mustn't my myself neither no nor not now of off on " +
    "once one only or other ought our ours ourselves out over own per same shall shan't she she'd she'll she's " +
    "should shouldn't since so some such than that that's the their theirs them themselves then there there's " +
    "these they they'd they'll they're they've this those though through thus to too under until up upon us very " +
    "via was wasn't we we'd we'll we're we've were weren't what what's when when's where where's whether which " +
    "while who who's whom whose why why's will with within without won't would wouldn't yet you you'd you'll " +
    "you're you've your yours yourself yourselves"
  ).split(" "),
);

/** A terminator run, closing quotes or brackets, the space after it, and (captured) the next character. */
const BOUNDARY = /[.!?…]+["'”’)\]]*\s+(?=(\S))/gu;
const LIST_ITEM = /^(?:[-*•·▪‣]|\d{1,3}[.)])\s+/u;
const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu;
const LOWER = /^\p{Ll}/u;
const DIGIT = /^\p{N}/u;

/** Whether the period at the end of `word` belongs to an abbreviation rather than ending a sentence. */
function isAbbreviation(word: string, next: string): boolean {
  const bare = word.replace(/^[("'“‘[]+/u, "").toLowerCase();
  if (ABBREVIATIONS.has(bare)) return true;
  if (BEFORE_NUMBER.has(bare) && DIGIT.test(next)) return true;
  // An initial, as in "J. Smith".
  return /^\p{Lu}$/u.test(word);
}

/** The sentences of one block of running text (whitespace already collapsed). */
function splitBlock(block: string): string[] {
  const sentences: string[] = [];
  let start = 0;
  for (const match of block.matchAll(BOUNDARY)) {
    const next = match[1] ?? "";
    // "approx. five", "the U.S. economy": a lower-case continuation is the same sentence.
    if (LOWER.test(next)) continue;
    const terminator = match[0].trimEnd();
    if (/^\.["'”’)\]]*$/u.test(terminator)) {
      const word = block.slice(block.lastIndexOf(" ", match.index) + 1, match.index);
      if (isAbbreviation(word, next)) continue;
    }
    const end = match.index + match[0].length;
    sentences.push(block.slice(start, end).trim());
    start = end;
  }
  const rest = block.slice(start).trim();
  if (rest) sentences.push(rest);
  return sentences;
}

/**
 * Blocks of running text: paragraphs (separated by blank lines) and list items. Other line breaks are hard
 * wraps and become spaces.
 */
function blocksOf(text: string): string[] {
  const blocks: string[] = [];
  for (const paragraph of text.replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/)) {
    let current: string[] = [];
    const flush = () => {
      const block = current.join(" ").replace(/\s+/g, " ").trim();
      if (block) blocks.push(block);
      current = [];
    };
    for (const line of paragraph.split("\n")) {
      const trimmed = line.trim();
      if (LIST_ITEM.test(trimmed)) {
        flush();
        current.push(trimmed.replace(LIST_ITEM, ""));
      } else current.push(trimmed);
    }
    flush();
  }
  return blocks;
}

/**
 * The sentences of a text. Periods after common abbreviations ("e.g.", "Dr.", "No. 5"), initials, inside
 * numbers ("3.14") and URLs ("example.com/a.html") end no sentence; neither does one followed by a
 * lower-case word. Paragraph breaks and list items always do.
 */
export function splitSentences(text: string): string[] {
  return blocksOf(text).flatMap(splitBlock);
}

/** A light stem: possessives and plurals folded, so "agent", "agents" and "agent's" count as one term. */
function stem(word: string): string {
  const w = word.replace(/['’]s$/u, "");
  if (w.length > 4 && w.endsWith("ies")) return `${w.slice(0, -3)}y`;
  if (w.length > 3 && w.endsWith("s") && !w.endsWith("ss") && !w.endsWith("us")) return w.slice(0, -1);
  return w;
}

const wordsOf = (sentence: string) => sentence.toLowerCase().match(WORD) ?? [];

const termsOf = (words: string[]) =>
  words.filter((w) => w.length > 1 && !STOP_WORDS.has(w.replace(/’/g, "'")) && !/^\p{N}+$/u.test(w)).map(stem);

/** Keeps the `maxSentences` most informative sentences of `text`, in their original order. */
export function summarize(text: string, maxSentences: number): Summary {
  const all = splitSentences(text);
  const seen = new Set<string>();
  const scored = all.map((sentence, index) => {
    const words = wordsOf(sentence);
    const key = words.join(" ");
    // A repeated sentence (a menu, a footer) counts once: at its first place.
    const duplicate = seen.has(key);
    seen.add(key);
    return { sentence, index, words: words.length, terms: termsOf(words), duplicate, score: 0 };
  });

  const frequency = new Map<string, number>();
  for (const { terms, duplicate } of scored) {
    if (duplicate) continue;
    for (const term of terms) frequency.set(term, (frequency.get(term) ?? 0) + 1);
  }
  const top = Math.max(1, ...frequency.values());
  for (const entry of scored) {
    const distinct = new Set(entry.terms);
    let sum = 0;
    for (const term of distinct) sum += (frequency.get(term) ?? 0) / top;
    const position = 1 + POSITION_BONUS * (1 - entry.index / Math.max(1, all.length));
    entry.score = entry.terms.length > 0 ? (sum / Math.sqrt(entry.terms.length)) * position : 0;
  }

  const unique = scored.filter((s) => !s.duplicate);
  const regular = unique.filter((s) => s.words >= MIN_WORDS && s.words <= MAX_WORDS);
  const candidates = regular.length > 0 ? regular : unique;
  const kept = [...candidates]
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, maxSentences)
    .sort((a, b) => a.index - b.index)
    .map((s) => s.sentence);
  return { summary: kept.join(" "), sentences: kept, sentenceCount: all.length };
}
