/**
 * The live page in a real browser: Debian's Chromium, headless, driven by playwright-core (no
 * browser of its own). A gateway takes submissions over MM7 while the page is open, half of
 * them for a recipient the sink refuses (so some wait to retry); the test waits on the page's
 * DOM until it shows batches, a state other than the one it first showed, the arrows just
 * taken and the messages waiting to retry, then saves a screenshot under `test-output/`.
 * `npm run test:browser` runs it, apart from `npm test`, which needs no browser.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { machineGraph } from "../../src/diagram/MachineGraph.js";
import { type Gateway, openGateway } from "../../src/Gateway.js";
import { openSink } from "../../src/Sink.js";
import { submissionBody } from "../../src/Submission.js";
import { ACME, closeAll, closers } from "../harness/FrontDoor.js";

afterEach(closeAll);

/** What the functions run in the page read of its DOM (the tests compile without DOM types). */
interface PageElement {
  readonly textContent: string | null;
  readonly dataset: Readonly<Record<string, string | undefined>>;
}
declare const document: {
  readonly body: PageElement;
  getElementById(id: string): PageElement | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): { readonly length: number };
};

/** Debian's package (`apt-get install chromium`); `CHROMIUM_PATH` points elsewhere. */
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUTPUT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../test-output");
/** The recipient the sink answers 503: its messages wait to retry. */
const REFUSED_RECIPIENT = "447700900999";
/** Submitters at once: enough for batches of several records. */
const SUBMITTER_COUNT = 16;
/** A bound on the load, far above what the page needs to show it (a few hundred). */
const SUBMISSION_COUNT_MAX = 20_000;

/** A gateway whose sink refuses {@link REFUSED_RECIPIENT}, all closed by `closeAll`. */
async function startGateway(): Promise<Gateway> {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-live-page-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const sink = await openSink({ failRecipient: REFUSED_RECIPIENT });
  closers.push(() => sink.close());
  const gateway = await openGateway({
    dir,
    vasps: [{ vaspId: "acme", password: "s3cret", reportUrl: null }],
    recipientUrl: sink.deliverUrl,
  });
  closers.push(() => gateway.close());
  return gateway;
}

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true });
  closers.push(() => browser.close());
  return browser;
}

/** Submits from `SUBMITTER_COUNT` loops, every other message refused, until `stop()`. */
function load(gateway: Gateway) {
  let stopped = false;
  let next = 0;
  const statuses = new Map<number, number>();
  const submitter = async () => {
    while (!stopped && next < SUBMISSION_COUNT_MAX) {
      const n = next++;
      const recipient = n % 2 === 0 ? "447700900123" : REFUSED_RECIPIENT;
      const { contentType, body } = submissionBody({
        transactionId: `live-${n}`,
        vaspId: "acme",
        recipients: [recipient],
        attachments: [
          { contentType: "text/plain", contentId: "a.txt", bytes: Buffer.from(`${n}`) },
        ],
      });
      const response = await fetch(`${gateway.url}/mm7`, {
        method: "POST",
        headers: { "content-type": contentType, authorization: ACME, soapaction: '""' },
        body,
      });
      await response.arrayBuffer();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  };
  const running = Promise.all(Array.from({ length: SUBMITTER_COUNT }, submitter));
  return {
    statuses,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

describe("the live page", () => {
  it("shows the synchronizer's state on its chart, the last batches and the queue, live", async () => {
    const gateway = await startGateway();
    const browser = await launch();
    const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
    await page.goto(`${gateway.adminUrl}/`);
    await page.waitForFunction(() => Number(document.body.dataset.refreshes ?? 0) >= 1);

    const states = machineGraph(gateway.messages.synchronizer.actor.logic).nodes.map((n) => n.key);
    const drawn = await page.$$eval(".machine .node", (nodes) =>
      nodes.map((node) => (node as unknown as PageElement).dataset.state),
    );
    expect(drawn.sort()).toEqual([...states].sort());
    const first = await page.textContent("#state");
    expect(states).toContain(first);
    expect(await page.getAttribute(".machine .node.current", "data-state")).toBe(first);

    const submissions = load(gateway);
    try {
      await page.waitForFunction(
        (shown) => {
          const state = document.getElementById("state")?.textContent;
          const current = document.querySelector(".machine .node.current");
          const retrying = document.querySelector('#queue-rows tr[data-state="retryWait"] .num');
          return (
            document.querySelectorAll("#batches tr").length >= 5 &&
            state !== shown &&
            current?.dataset.state === state &&
            document.querySelector(".machine .edge.hot") !== null &&
            Number(retrying?.textContent?.replace(/,/g, "") ?? 0) > 0
          );
        },
        first,
        { timeout: 60_000 },
      );
      await mkdir(OUTPUT_DIR, { recursive: true });
      const screenshot = path.join(OUTPUT_DIR, "live-page.png");
      await page.screenshot({ path: screenshot, fullPage: true });
      expect((await stat(screenshot)).size).toBeGreaterThan(0);
    } finally {
      await submissions.stop();
    }
    expect(submissions.statuses.get(200)).toBeGreaterThan(0);

    const reasons = await page.$$eval("#batches tr td:nth-child(4)", (cells) =>
      cells.map((cell) => cell.textContent),
    );
    const live = (await (await fetch(`${gateway.adminUrl}/live.json`)).json()) as {
      flushReasons: Record<string, number>;
    };
    for (const reason of reasons) expect(Object.keys(live.flushReasons)).toContain(reason);
    const entered = await page.textContent('.machine .node[data-state="confirming"] .count');
    expect(entered).toMatch(/^×[\d,]+$/);
  });
});
