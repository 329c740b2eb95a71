import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { messageIds } from "../src/MessageIds.js";
import { ACME, closeAll, closers, startGateway, submit } from "./harness/FrontDoor.js";

afterEach(closeAll);

const messageIdIn = (xml: string) => /<MessageID>([^<]+)<\/MessageID>/.exec(xml)![1]!;

async function ids() {
  const dir = await mkdtemp(path.join(tmpdir(), "mms-ids-"));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  return messageIds(dir);
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
