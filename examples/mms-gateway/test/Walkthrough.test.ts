import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { openGateway } from "../src/Gateway.js";
import { openSink } from "../src/Sink.js";

const root = path.resolve(new URL(".", import.meta.url).pathname, "../../..");
const run = promisify(execFile);

/** The gateway README's walkthrough: its curl lines, in order. */
async function walkthrough(): Promise<string[]> {
  const readme = await readFile(path.join(root, "examples/mms-gateway/README.md"), "utf8");
  const block = /<!-- walkthrough -->\n```sh\n([\s\S]*?)```\n<!-- \/walkthrough -->/.exec(readme);
  if (block === null) throw new Error("the README has no walkthrough block");
  return block[1]!.split("\n").filter((line) => line.startsWith("curl "));
}

describe("the README's curl walkthrough", () => {
  it("works word for word against a gateway (its ports aside), in order", async () => {
    const lines = await walkthrough();
    expect(lines.length).toBe(7);
    const dir = await mkdtemp(path.join(tmpdir(), "mms-walkthrough-"));
    const sink = await openSink();
    const gateway = await openGateway({
      dir,
      vasps: [{ vaspId: "demo", password: "demo-secret", reportUrl: sink.reportUrl }],
      recipientUrl: sink.deliverUrl,
    });
    let messageId = "";
    const outputs: string[] = [];
    try {
      for (const line of lines) {
        const command = line
          .replaceAll("http://127.0.0.1:8700", gateway.url)
          .replaceAll("http://127.0.0.1:8701", sink.url)
          .replaceAll("http://127.0.0.1:8702", gateway.adminUrl)
          .replaceAll("MESSAGE_ID", messageId);
        const { stdout } = await run("bash", ["-c", command], { cwd: root });
        outputs.push(stdout);
        messageId ||= /<MessageID>([^<]+)<\/MessageID>/.exec(stdout)?.[1] ?? "";
        // Let the first messages be forwarded before their state and the sink are asked.
        if (outputs.length === 2) {
          while (sink.stats().delivered < 2 || sink.stats().reports < 3) {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      }
    } finally {
      await gateway.close();
      await sink.close();
      await rm(dir, { recursive: true, force: true });
    }
    const [first, second, state, stats, stranger, health, metrics] = outputs;
    expect(first).toContain("<StatusCode>1000</StatusCode>");
    expect(second).toContain("<StatusCode>1000</StatusCode>");
    expect(second).toMatch(/<MessageID>[0-9a-f]{8}-2-[0-9a-f]{16}<\/MessageID>/);
    expect(JSON.parse(state!)).toEqual({ messageId, state: "Delivered" });
    // Two messages; the second had two recipients, so three delivery reports.
    expect(JSON.parse(stats!)).toEqual({ delivered: 2, distinct: 2, refused: 0, reports: 3 });
    expect(stranger).toContain("<StatusCode>4001</StatusCode>");
    const { state: synchronizerState } = JSON.parse(health!) as { state: string };
    expect(["broken", "closed"]).not.toContain(synchronizerState);
    expect(metrics).toContain('mm7_submissions_total{result="refused",status="4001"} 1');
    expect(metrics).toContain('spool_queue_messages{state="dead"} 0');
  }, 60_000);
});
