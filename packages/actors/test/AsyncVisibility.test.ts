import { delegatingAdapter, fileAdapter, memoryAdapter } from "@spool/adapters";
import type { AdapterFactory } from "@spool/core";
import { describe, expect, it, vi } from "vitest";
import { openSpool, type Spool } from "../src/spool/Spool.js";
import { temporaryDirectory } from "./helpers.js";

const text = new TextDecoder();

/** Waits until the spool shows consumers `count` messages (readiness, not time). */
async function untilDepth(spool: Spool, count: number): Promise<void> {
  await vi.waitFor(() => expect(spool.depth()).toBe(count), { timeout: 60_000, interval: 5 });
}

describe("async appends become visible when their own flush completes", () => {
  /** A spool holding one append made with `durability: "async"`, and no synchronous flush. */
  async function withAsyncAppend() {
    const spool = await openSpool({ dir: "async", adapter: memoryAdapter() });
    const levels: string[] = [];
    spool.onBatch((batch) => levels.push(batch.level));
    const result = await spool.writer().append("async", { durability: "async" });
    expect([result.durability, levels]).toEqual(["async", ["async"]]);
    await untilDepth(spool, 1);
    return { spool, seq: result.seq };
  }

  it("take() hands it out", async () => {
    const { spool, seq } = await withAsyncAppend();
    const lease = await spool.take();
    expect([lease?.seq, text.decode(lease?.payload)]).toEqual([seq, "async"]);
    await spool.close();
  });

  it("messageState() says it is queued", async () => {
    const { spool, seq } = await withAsyncAppend();
    expect(spool.messageState(seq)).toBe("queued");
    await spool.close();
  });

  it("records() reads it", async () => {
    const { spool, seq } = await withAsyncAppend();
    const read: [number, string][] = [];
    for await (const record of spool.records())
      read.push([record.seq, text.decode(record.payload)]);
    expect(read).toEqual([[seq, "async"]]);
    await spool.close();
  });

  it("on files, take() hands it out once its fdatasync completed, with no later append", async () => {
    const spool = await openSpool({ dir: temporaryDirectory(), adapter: fileAdapter() });
    const { seq } = await spool.writer().append("on file", { durability: "async" });
    await untilDepth(spool, 1);
    const lease = await spool.take();
    expect([lease?.seq, text.decode(lease?.payload)]).toEqual([seq, "on file"]);
    await spool.close();
  });
});

describe("consumers never see an async append before it is durable", () => {
  /** A memory adapter whose asynchronous flushes complete when the test says so. */
  function withheldFlushes(): { factory: AdapterFactory; complete: () => void } {
    let complete: () => void = () => undefined;
    const completed = new Promise<void>((resolve) => {
      complete = resolve;
    });
    const factory: AdapterFactory = async (options) => {
      const inner = await memoryAdapter()(options);
      return delegatingAdapter(inner, {
        flush: (region, mode) => inner.flush(region, mode),
        whenFlushed: () => completed,
      });
    };
    return { factory, complete };
  }

  it("take() finds nothing until the adapter says the flush completed, then hands it out", async () => {
    const { factory, complete } = withheldFlushes();
    const spool = await openSpool({ dir: "withheld", adapter: factory });
    const { seq } = await spool.writer().append("later", { durability: "async" });
    expect([await spool.take(), spool.depth(), spool.messageState(seq)]).toEqual([
      undefined,
      0,
      "unknown",
    ]);
    complete();
    await untilDepth(spool, 1);
    expect((await spool.take())?.seq).toBe(seq);
    await spool.close();
  });

  it("without whenFlushed, the next synchronous flush makes it visible", async () => {
    const factory: AdapterFactory = async (options) => {
      const inner = await memoryAdapter()(options);
      return delegatingAdapter(inner, { whenFlushed: () => null });
    };
    const spool = await openSpool({ dir: "untold", adapter: factory });
    const writer = spool.writer();
    const first = await writer.append("async", { durability: "async" });
    expect(await spool.take()).toBeUndefined();
    const second = await writer.append("flushed");
    expect(spool.depth()).toBe(2);
    expect((await spool.take())?.seq).toBe(first.seq);
    expect((await spool.take())?.seq).toBe(second.seq);
    await spool.close();
  });
});
