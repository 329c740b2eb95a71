/**
 * Checks docs/claims.json, the table that traces each of the patent's 75 claims to the code that
 * carries it out and to the tests that exercise it. The table is only worth keeping if it stays
 * true as the code moves, so this script checks it against the tree rather than trusting it.
 *
 * It checks that claims 1 to 75 each appear exactly once with a valid kind (method, system or
 * medium) and a short summary; that every cited code file exists and literally contains its
 * symbol; that every cited test file exists and holds a plain it() or test() call whose title
 * equals the cited name; that a twin, when given, is an existing method or system claim with
 * tests of its own; that every claim is covered by at least one test, its own or its twin's; and
 * that no claim is still marked with a "gap". When the patent text is present, it also checks
 * that no summary copies a run of seven or more of the claim's words.
 *
 * Run from the repository root: `npx tsx scripts/claims.ts` prints the table, a summary line and
 * every problem, and exits 1 if there is any problem; `--json` prints the resolved table instead.
 * It also checks that docs/claims.md, the readable summary made from the table, is current;
 * `--write` rewrites it.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";

const CLAIM_COUNT = 75;
const KINDS = ["method", "system", "medium"] as const;
const SUMMARY_LENGTH_MAX = 120;
const COPIED_WORDS_MAX = 6;

type Kind = (typeof KINDS)[number];

interface CodeRef {
  readonly file: string;
  readonly symbol: string;
}

interface TestRef {
  readonly file: string;
  readonly name: string;
}

interface ClaimEntry {
  readonly claim: number;
  readonly kind: Kind;
  readonly twin?: number;
  readonly summary: string;
  readonly code: readonly CodeRef[];
  readonly tests: readonly TestRef[];
  readonly gap?: string;
}

interface ClaimsFile {
  readonly source: string;
  readonly claims: readonly ClaimEntry[];
}

/** One row of the resolved table, as `--json` prints it. */
interface Row {
  readonly claim: number;
  readonly kind: string;
  readonly twin: number | null;
  readonly summary: string;
  readonly code: readonly CodeRef[];
  readonly tests: readonly TestRef[];
  /** The tests that cover the claim: its own, or else its twin's. */
  readonly coveredBy: readonly TestRef[];
  readonly via: number | null;
  readonly gap: string | null;
  readonly problems: readonly string[];
}

const root = path.resolve(import.meta.dirname, "..");
const tablePath = path.join(root, "docs", "claims.json");
const table = JSON.parse(readFileSync(tablePath, "utf8")) as ClaimsFile;
const problems: string[] = [];
const fileCache = new Map<string, string | null>();
const titleCache = new Map<string, ReadonlySet<string>>();

function readRepoFile(file: string): string | null {
  let text = fileCache.get(file);
  if (text === undefined) {
    const full = path.join(root, file);
    text = existsSync(full) ? readFileSync(full, "utf8") : null;
    fileCache.set(file, text);
  }
  return text;
}

/**
 * The titles of the plain it()/test() calls in a test file: the string literal that follows the
 * opening parenthesis, possibly after a line break. it.each and the like are not matched.
 */
function testTitles(file: string, text: string): ReadonlySet<string> {
  let titles = titleCache.get(file);
  if (titles === undefined) {
    const call = /(?<![\w$.])(?:it|test)\(\s*(["'`])((?:\\.|(?!\1)[^\\])*)\1/g;
    const found = new Set<string>();
    for (const match of text.matchAll(call)) {
      found.add((match[2] ?? "").replace(/\\(.)/g, "$1"));
    }
    titles = found;
    titleCache.set(file, titles);
  }
  return titles;
}

/** Each claim's text from the patent, by number, or null when the source is not there. */
function claimTexts(source: string): Map<number, string> | null {
  const full = path.resolve(root, source);
  if (!existsSync(full)) return null;
  const texts = new Map<number, string>();
  const parts = readFileSync(full, "utf8").split(/^\s*(\d+)\.\s/m);
  for (let i = 1; i + 1 < parts.length; i += 2) texts.set(Number(parts[i]), parts[i + 1] ?? "");
  return texts;
}

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9-]+/g) ?? [];
}

/** Whether the summary repeats more than COPIED_WORDS_MAX consecutive words of the claim. */
function copiesClaim(summary: string, claimText: string): boolean {
  const span = COPIED_WORDS_MAX + 1;
  const claimWords = ` ${words(claimText).join(" ")} `;
  const own = words(summary);
  for (let i = 0; i + span <= own.length; i++) {
    if (claimWords.includes(` ${own.slice(i, i + span).join(" ")} `)) return true;
  }
  return false;
}

const byNumber = new Map<number, ClaimEntry>();
for (const entry of table.claims) {
  const n = entry.claim;
  if (!Number.isInteger(n) || n < 1 || n > CLAIM_COUNT) {
    problems.push(`claim ${String(n)}: not a claim number between 1 and ${CLAIM_COUNT}`);
  } else if (byNumber.has(n)) {
    problems.push(`claim ${n}: listed more than once`);
  } else {
    byNumber.set(n, entry);
  }
}
for (let n = 1; n <= CLAIM_COUNT; n++) {
  if (!byNumber.has(n)) problems.push(`claim ${n}: missing`);
}

const patent = claimTexts(table.source);
const rows: Row[] = [];
for (const entry of [...byNumber.values()].sort((a, b) => a.claim - b.claim)) {
  const own: string[] = [];
  const { claim: n, kind, twin, summary } = entry;
  const code = entry.code ?? [];
  const tests = entry.tests ?? [];
  if (!KINDS.includes(kind)) own.push(`kind "${String(kind)}" is not one of ${KINDS.join(", ")}`);
  if (typeof summary !== "string" || summary.trim() === "") own.push("summary is empty");
  else if (summary.length > SUMMARY_LENGTH_MAX) {
    own.push(`summary is ${summary.length} characters (at most ${SUMMARY_LENGTH_MAX})`);
  } else if (patent?.has(n) && copiesClaim(summary, patent.get(n) ?? "")) {
    own.push(`summary copies more than ${COPIED_WORDS_MAX} consecutive words of the claim`);
  }
  if (code.length === 0) own.push("no code symbols");
  for (const ref of code) {
    const text = readRepoFile(ref.file);
    if (text === null) own.push(`code file ${ref.file} does not exist`);
    else if (!text.includes(ref.symbol)) own.push(`${ref.file} does not contain "${ref.symbol}"`);
  }
  for (const ref of tests) {
    const text = readRepoFile(ref.file);
    if (text === null) own.push(`test file ${ref.file} does not exist`);
    else if (!testTitles(ref.file, text).has(ref.name)) {
      own.push(`${ref.file} has no it()/test() titled "${ref.name}"`);
    }
  }
  let coveredBy: readonly TestRef[] = tests;
  let via: number | null = null;
  if (twin !== undefined) {
    const other = byNumber.get(twin);
    if (other === undefined) own.push(`twin ${twin} is not a listed claim`);
    else if (other.kind === "medium") own.push(`twin ${twin} is a medium claim`);
    else if ((other.tests ?? []).length === 0) own.push(`twin ${twin} has no tests of its own`);
    else if (tests.length === 0) {
      coveredBy = other.tests;
      via = twin;
    }
  }
  if (entry.gap !== undefined) {
    // A declared gap is one problem: the missing coverage it explains is not reported again.
    const explained = (problem: string) => problem.startsWith(`twin ${twin} has no tests`);
    own.splice(0, own.length, ...own.filter((problem) => !explained(problem)));
    own.push(`gap: ${entry.gap}`);
  } else if (coveredBy.length === 0) {
    own.push("no test covers it, directly or through a twin");
  }
  for (const problem of own) problems.push(`claim ${n}: ${problem}`);
  rows.push({
    claim: n,
    kind,
    twin: twin ?? null,
    summary,
    code,
    tests,
    coveredBy,
    via,
    gap: entry.gap ?? null,
    problems: own,
  });
}

const withOwnTests = rows.filter((row) => row.tests.length > 0).length;
const viaTwins = rows.filter((row) => row.via !== null).length;
const summaryLine =
  `${rows.length} claims, ${withOwnTests} with own tests, ${viaTwins} via twins, ` +
  `${problems.length} problems`;

/** docs/claims.md: each claim's summary, the code that carries it out and the tests that cover it. */
function claimsMarkdown(resolved: readonly Row[]): string {
  const link = (file: string) => `[${path.basename(file)}](../${file})`;
  const lines = [
    "# The claims Spool implements",
    "",
    "Generated by `npm run claims -- --write` from [claims.json](claims.json), the table that",
    "traces each of the patent's 75 claims (a multimedia message gateway's disk queue) to the",
    "code that carries it out and the tests that exercise it; `npm test` fails when this file or",
    "the table is out of date. The summaries are ours, not the claims' words. A claim marked",
    "*via N* is covered by the tests of its twin, claim N (the same steps as a system or a",
    "stored program).",
    "",
    "| claim | kind | what it says | code | tests |",
    "| ----: | ---- | ------------ | ---- | ----- |",
  ];
  for (const row of resolved) {
    const code = [...new Set(row.code.map((ref) => ref.file))].map(link).join(", ");
    const files = [...new Set(row.tests.map((ref) => ref.file))].map(link).join(", ");
    const tests = row.via === null ? `${row.tests.length} in ${files}` : `*via ${row.via}*`;
    const summary = row.summary.replaceAll("|", "\\|");
    lines.push(`| ${row.claim} | ${row.kind} | ${summary} | ${code} | ${tests} |`);
  }
  return `${lines.join("\n")}\n`;
}

const markdownPath = path.join(root, "docs", "claims.md");
const markdown = claimsMarkdown(rows);
if (process.argv.includes("--write")) writeFileSync(markdownPath, markdown);
else if (readRepoFile("docs/claims.md") !== markdown) {
  problems.push("docs/claims.md is out of date: run npm run claims -- --write");
}

function cell(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ summary: summaryLine, claims: rows, problems }, null, 2));
} else {
  const line = (cells: readonly string[]) => cells.join(" | ");
  console.log(line(["  #", cell("kind", 6), cell("summary", 50), cell("code", 20), "tests"]));
  console.log("-".repeat(96));
  for (const row of rows) {
    const first = row.code[0]?.symbol ?? "-";
    const more = row.code.length > 1 ? ` +${row.code.length - 1}` : "";
    const code = cell(first, 20 - more.length) + more;
    const tests = row.via === null ? String(row.tests.length) : `via ${row.via}`;
    const mark = row.problems.length > 0 ? " !" : "";
    const claim = String(row.claim).padStart(3);
    console.log(line([claim, cell(row.kind, 6), cell(row.summary, 50), code, tests + mark]));
  }
  console.log(summaryLine);
  for (const problem of problems) console.log(problem);
}
process.exitCode = problems.length > 0 ? 1 : 0;
