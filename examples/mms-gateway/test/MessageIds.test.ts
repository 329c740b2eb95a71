import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { messageIds } from "../src/MessageIds.js";
import { ACME, closeAll, closers, startGateway, submit } from "./harness/FrontDoor.js";

/** The error code the identity file's next read fails with, if any (EMFILE, EIO). */
const readFailure = vi.hoisted(() => ({ code: undefined as string | undefined }));

vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  const readFile = (async (...args: Parameters<typeof actual.readFile>) => {
    const code = readFailure.code;
    if (code !== undefined && String(args[0]).endsWith("gateway-identity.json")) {
      readFailure.code = undefined;
      throw Object.assign(new Error(`${code}: failed to read`), { code });
    }
    return actual.readFile(...args);
  }) as typeof actual.readFile;
  return { ...actual, readFile, default: { ...actual, readFile } };
});

afterEach(closeAll);

const messageIdIn = (xml: string) => /<MessageID>([^<]+)<\/MessageID>/.exec(xml)![1]!;

async function ids() {
  return messageIds(await idsDir());
}

async function idsDir() {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-ids-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("MessageIDs", () => {
  it("name each message by one text only: a seq with leading zeros names none", async () => {
    const gatewayIds = await ids();
    const messageId = gatewayIds.of(7, "acme");
    expect(gatewayIds.seqOf(messageId, "acme")).toBe(7);
    const [id, seq, tag] = messageId.split("-");
    for (const alias of [`${id}-07-${tag}`, `${id}-007-${tag}`, `${id}-+7-${tag}`]) {
      expect([alias, gatewayIds.seqOf(alias, "acme")]).toEqual([alias, undefined]);
    }
    expect(`${id}-${seq}-${tag}`).toBe(messageId);
  });

  it("refuse a tag in another case, or a seq past 15 digits", async () => {
    const gatewayIds = await ids();
    const [id, seq, tag] = gatewayIds.of(0, "acme").split("-");
    expect(gatewayIds.seqOf(`${id}-${seq}-${tag!.toUpperCase()}`, "acme")).toBeUndefined();
    expect(gatewayIds.seqOf(`${id}-1${"0".repeat(15)}-${tag}`, "acme")).toBeUndefined();
    expect(gatewayIds.seqOf(`${id}-0-${tag}`, "acme")).toBe(0);
  });
});

describe("the gateway's identity", () => {
  it("is kept when its file cannot be read (EMFILE): no new key is made", async () => {
    const dir = await idsDir();
    const messageId = (await messageIds(dir)).of(7, "acme");
    const file = path.join(dir, "gateway-identity.json");
    const before = await readFile(file, "utf8");
    readFailure.code = "EMFILE";
    await expect(messageIds(dir)).rejects.toThrow(/cannot be read: EMFILE/);
    expect(await readFile(file, "utf8")).toBe(before);
    expect((await messageIds(dir)).seqOf(messageId, "acme")).toBe(7);
  });

  it("is refused when its file holds JSON that is not an object", async () => {
    const dir = await idsDir();
    await writeFile(path.join(dir, "gateway-identity.json"), "null\n");
    await expect(messageIds(dir)).rejects.toThrow(/is not a gateway identity/);
  });
});

describe("the status query's MessageID", () => {
  const ask = (url: string, messageIdText: string) =>
    fetch(`${url}/mm7/messages/${messageIdText}`, { headers: { authorization: ACME } });

  it("answers 404 (2005) to a MessageID with leading zeros in its seq", async () => {
    const { gateway } = await startGateway();
    const messageId = messageIdIn((await submit(gateway, 1)).text);
    expect((await ask(gateway.url, messageId)).status).toBe(200);
    const [id, seq, tag] = messageId.split("-");
    const alias = await ask(gateway.url, `${id}-0${seq}-${tag}`);
    expect(alias.status).toBe(404);
    expect(await alias.json()).toMatchObject({ state: "Unknown", statusCode: 2005 });
  });

  it("answers a malformed %-escape with a 400 fault, not a 500", async () => {
    const { gateway } = await startGateway();
    const answer = await ask(gateway.url, "%E0%A4%A");
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ statusCode: 2000 });
  });
});
