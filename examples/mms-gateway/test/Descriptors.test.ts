import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connectionCountMax, DESCRIPTOR_MARGIN, openFileLimit } from "../src/Descriptors.js";
import { openSink } from "../src/Sink.js";
import { basicAuthorization, submissionBody } from "../src/Submission.js";
import { closeAll, closers, until } from "./harness/FrontDoor.js";

afterEach(closeAll);

const script = new URL("./processes/frontDoorGateway.ts", import.meta.url).pathname;

interface Served {
  readonly url: string;
  readonly openCountMax: number | undefined;
}

/** A gateway process under a descriptor limit of `fileLimit`; resolves once it serves. */
function startLimitedGateway(fileLimit: number, dir: string, deliverUrl: string) {
  // Both limits: Node raises its soft limit to the hard one as it starts.
  const command = `ulimit -n ${fileLimit} && exec "$0" "$@"`;
  const child = spawn(
    "bash",
    [
      "-c",
      command,
      process.execPath,
      "--conditions=spool-source",
      "--import",
      "tsx",
      script,
    ].concat([dir, deliverUrl]),
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  closers.push(async () => void child.kill("SIGKILL"));
  return new Promise<Served>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes("\n")) resolve(JSON.parse(text.split("\n")[0]!) as Served);
    });
    child.on("exit", () => reject(new Error("the gateway exited before serving")));
  });
}

describe("descriptors", () => {
  it("reads the soft open-file limit from /proc/self/limits", () => {
    const limits = [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max open files            300                  4096                 files     ",
    ].join("\n");
    expect(openFileLimit(limits)).toBe(300);
    expect(openFileLimit("Max open files  unlimited  unlimited  files")).toBeUndefined();
    expect(openFileLimit("")).toBeUndefined();
  });

  it("caps connections so the descriptors held, forwarding's and a margin stay free", () => {
    const budget = { openCountMax: 1024, inUseCount: 30, reservedSocketCount: 40 };
    expect(connectionCountMax({ ...budget, openFileLimit: 300 })).toBe(
      300 - 30 - 40 - DESCRIPTOR_MARGIN,
    );
    expect(connectionCountMax({ ...budget, openFileLimit: 20_000 })).toBe(1024);
    expect(connectionCountMax({ ...budget, openFileLimit: 100 })).toBe(1);
  });

  it("under a limit of 300, 400 idle connections leave forwarding its descriptors", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mms-descriptors-"));
    closers.push(() => rm(dir, { recursive: true, force: true }));
    const sink = await openSink();
    closers.push(() => sink.close());
    const served = await startLimitedGateway(300, dir, sink.deliverUrl);
    const { hostname, port } = new URL(served.url);
    const flood = Array.from({ length: 400 }, () => {
      const socket = net.connect({ host: hostname, port: Number(port) });
      socket.on("error", () => {});
      closers.push(async () => void socket.destroy());
      return socket;
    });
    await Promise.all(
      flood.map((socket) => new Promise((resolve) => socket.once("connect", resolve))),
    );
    const { contentType, body } = submissionBody({
      transactionId: "during-the-flood",
      vaspId: "acme",
      recipients: ["447700900123"],
      attachments: [{ contentType: "text/plain", contentId: "t", bytes: Buffer.from("hi") }],
    });
    const answer = await fetch(`${served.url}/mm7`, {
      method: "POST",
      headers: { "content-type": contentType, authorization: basicAuthorization("acme", "s3cret") },
      body,
      // A bound for a loaded machine: without the reserve, the gateway cannot even accept it.
      signal: AbortSignal.timeout(30_000),
    });
    const text = await answer.text();
    expect(answer.status).toBe(200);
    const messageId = /<MessageID>([^<]+)<\/MessageID>/.exec(text)![1]!;
    await until(() => sink.received.get(messageId) === 1, "the delivery during the flood");
    const status = await fetch(`${served.url}/mm7/messages/${messageId}`, {
      headers: { authorization: basicAuthorization("acme", "s3cret") },
    });
    expect(await status.json()).toEqual({ messageId, state: "Delivered" });
    expect(served.openCountMax).toBeLessThan(300 - DESCRIPTOR_MARGIN);
  });
});
