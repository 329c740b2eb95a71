import { delegatingAdapter, MemoryDisk, memoryAdapter } from "@spool/adapters";
import {
  type AdapterFactory,
  type AppendCursor,
  byteOffset,
  type FlushAdapter,
  InvariantViolation,
  type RequestId,
  resolveConfig,
  type Seq,
  SpoolFailed,
  segmentNumber,
  type WriteRequest,
  type WriterId,
} from "@spool/core";
import { describe, expect, it } from "vitest";
import { openSpool, type Spool } from "../src/spool/Spool.js";
import { describeFault, isInputOutputError } from "../src/spool/SpoolFailure.js";
import { Synchronizer, type WriterEndpoint } from "../src/synchronizer/Synchronizer.js";
import { connectWriter } from "../src/transports/WriterPort.js";
import type { SharedLock } from "../src/writers/SharedLock.js";
import { SenderRuntime } from "../src/writers/Writer.js";

/** The memory adapter, with `overrides` on the data file's adapter once `armed()` says so. */
function faultyAdapter(
  disk: MemoryDisk,
  armed: () => boolean,
  overrides: (inner: FlushAdapter) => Partial<FlushAdapter>,
  fileKind: "data" | "index" = "data",
): AdapterFactory {
  return async (options) => {
    const inner = await memoryAdapter(disk)(options);
    if ((options.fileKind ?? "data") !== fileKind) return inner;
    const faulty = overrides(inner);
    const armedOverrides: Partial<FlushAdapter> = {};
    for (const [name, method] of Object.entries(faulty)) {
      const own = (inner as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!;
      (armedOverrides as Record<string, unknown>)[name] = (...args: unknown[]) =>
        armed() ? (method as (...a: unknown[]) => unknown)(...args) : own.apply(inner, args);
    }
    return delegatingAdapter(inner, armedOverrides);
  };
}

/** Resolves with the spool's failure once `onFailure` reports it. */
function failureOf(spool: Spool): Promise<SpoolFailed> {
  return new Promise((resolve) => spool.onFailure(resolve));
}

/** Whether `promise` has rejected after the microtasks queued by now and a few more ran. */
async function rejectsWithinMicrotasks(promise: Promise<unknown>): Promise<unknown> {
  let outcome: unknown;
  promise.then(
    () => {
      outcome = "resolved";
    },
    (error: unknown) => {
      outcome = error;
    },
  );
  for (let turn = 0; turn < 4; turn++) await Promise.resolve();
  return outcome;
}

async function readBack(disk: MemoryDisk, dir: string): Promise<string[]> {
  const spool = await openSpool({ dir, adapter: memoryAdapter(disk) });
  const payloads: string[] = [];
  for await (const record of spool.records()) {
    payloads.push(new TextDecoder().decode(record.payload));
  }
  await spool.close();
  return payloads;
}

describe("a fault inside the spool fails it visibly", () => {
  it("an adapter throwing a programmer's error fails pending appends: SpoolFailed", async () => {
    const disk = new MemoryDisk();
    let broken = false;
    const adapter = faultyAdapter(
      disk,
      () => broken,
      () => ({
        write: () => {
          throw new TypeError("region.view is not a function");
        },
      }),
    );
    const spool = await openSpool({ dir: "fault-adapter", adapter });
    const failed = failureOf(spool);
    const writer = spool.writer();
    await writer.append("before");
    broken = true;
    const outcomes = await Promise.allSettled([writer.append("x"), spool.writer().append("y")]);
    for (const outcome of outcomes) {
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(SpoolFailed);
    }
    const failure = await failed;
    expect(failure.dir).toBe("fault-adapter");
    expect(failure.cause).toBeInstanceOf(TypeError);
    expect(failure.reason).toMatch(/region\.view is not a function/);
    expect(spool.stats().state).toBe("failed");
    await spool.close();
    expect(await readBack(disk, "fault-adapter")).toContain("before");
  });

  it("after the fault, a new append rejects with the same SpoolFailed at once", async () => {
    let broken = false;
    const disk = new MemoryDisk();
    const adapter = faultyAdapter(
      disk,
      () => broken,
      () => ({
        flush: () => {
          throw new RangeError("offset out of range");
        },
      }),
    );
    const spool = await openSpool({ dir: "fault-later", adapter });
    const writer = spool.writer();
    broken = true;
    const first = await writer.append("x").catch((error: unknown) => error);
    expect(first).toBeInstanceOf(SpoolFailed);
    expect(await rejectsWithinMicrotasks(writer.append("y"))).toBe(first);
    expect(await rejectsWithinMicrotasks(spool.writer().append("z"))).toBe(first);
    await spool.close();
  });

  it("an append queued in the tick the spool fails is refused with the failure", async () => {
    const spool = await openSpool({ dir: "queued-then-failed", adapter: memoryAdapter() });
    // Made before the fault, in the same tick: still in the outbox, not yet sent.
    const queued = spool.writer().append("queued");
    const failure = spool.synchronizer.fail("a test's fault", undefined);
    await expect(queued).rejects.toBe(failure);
    // Through the sender directly, as the index file appends, after the fault.
    const direct = spool.sender.append(spool.sender.id, new Uint8Array([1]), "flushed");
    await expect(direct).rejects.toBe(failure);
    expect(spool.stats().state).toBe("failed");
    await spool.close();
  });

  it("a clock that throws fails the pending appends with SpoolFailed, not a crash", async () => {
    let broken = false;
    const clock = () => {
      if (broken) throw new Error("the clock is gone");
      return 1_000;
    };
    const spool = await openSpool({ dir: "fault-clock", adapter: memoryAdapter(), clock });
    const failed = failureOf(spool);
    const writer = spool.writer();
    await writer.append("before");
    broken = true;
    const outcomes = await Promise.allSettled([writer.append("a"), writer.append("b")]);
    for (const outcome of outcomes) {
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(SpoolFailed);
    }
    expect((await failed).reason).toMatch(/the clock is gone/);
    expect(spool.stats().state).toBe("failed");
    await spool.close();
  });

  it("a writer over a port gets the same SpoolFailed, revived across the port", async () => {
    let broken = false;
    const adapter = faultyAdapter(
      new MemoryDisk(),
      () => broken,
      () => ({
        write: () => {
          throw new TypeError("boom");
        },
      }),
    );
    const spool = await openSpool({ dir: "fault-remote", adapter });
    const remote = await connectWriter(spool.port());
    await remote.append("before");
    broken = true;
    const [pending, local] = await Promise.allSettled([
      remote.append("pending"),
      spool.writer().append("local"),
    ]);
    const failure = (local as PromiseRejectedResult).reason as SpoolFailed;
    expect(failure).toBeInstanceOf(SpoolFailed);
    const revived = (pending as PromiseRejectedResult).reason;
    expect(revived).toBeInstanceOf(SpoolFailed);
    expect(revived).toMatchObject({ dir: failure.dir, reason: failure.reason });
    await expect(remote.append("later")).rejects.toBeInstanceOf(SpoolFailed);
    remote.close();
    await spool.close();
  });

  it("a listener added after the failure hears it too", async () => {
    let broken = false;
    const adapter = faultyAdapter(
      new MemoryDisk(),
      () => broken,
      () => ({
        write: () => {
          throw new TypeError("boom");
        },
      }),
    );
    const spool = await openSpool({ dir: "fault-late-listener", adapter });
    broken = true;
    const first = await spool
      .writer()
      .append("x")
      .catch((error: unknown) => error);
    expect(await failureOf(spool)).toBe(first);
    await spool.close();
  });

  it("a fault writing the index file fails the ack and the whole spool", async () => {
    let broken = false;
    const adapter = faultyAdapter(
      new MemoryDisk(),
      () => broken,
      () => ({
        write: () => {
          throw new TypeError("index slot miscomputed");
        },
      }),
      "index",
    );
    const spool = await openSpool({ dir: "fault-index", adapter });
    const failed = failureOf(spool);
    await spool.writer().append("queued");
    // A fresh message's first lease writes no entry (see SpoolQueue.takeMany): its ack does.
    const lease = await spool.take();
    broken = true;
    const taken = await spool.ack(lease!.seq).catch((error: unknown) => error);
    expect(taken).toBeInstanceOf(SpoolFailed);
    expect(await failed).toBe(taken);
    expect(spool.stats().state).toBe("failed");
    expect(await rejectsWithinMicrotasks(spool.writer().append("later"))).toBe(taken);
    await spool.close();
  });

  it("an I/O error is not a fault: it breaks the spool as a failed flush does", async () => {
    let broken = false;
    const eio = Object.assign(new Error("input/output error"), { code: "EIO" });
    const adapter = faultyAdapter(
      new MemoryDisk(),
      () => broken,
      () => ({
        write: () => {
          throw eio;
        },
      }),
    );
    const spool = await openSpool({ dir: "fault-io", adapter });
    broken = true;
    const error = await spool
      .writer()
      .append("x")
      .catch((failure: unknown) => failure);
    expect(error).toMatchObject({ _tag: "StorageFailed", code: "EIO" });
    expect(spool.stats().state).toBe("broken");
    await spool.close();
  });
});

describe("what counts as a fault", () => {
  it("a Node argument error from the adapter (ERR_OUT_OF_RANGE) is a fault, not I/O", async () => {
    let broken = false;
    const adapter = faultyAdapter(
      new MemoryDisk(),
      () => broken,
      () => ({
        write: () => {
          const error = new RangeError('The value of "offset" is out of range.');
          throw Object.assign(error, { code: "ERR_OUT_OF_RANGE" });
        },
      }),
    );
    const spool = await openSpool({ dir: "fault-node-code", adapter });
    broken = true;
    const error = await spool
      .writer()
      .append("x")
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(SpoolFailed);
    expect(spool.stats().state).toBe("failed");
    await spool.close();
  });
});

describe("what counts as a fault, whatever the adapter throws", () => {
  it("an adapter throwing a revoked Proxy fails the spool with SpoolFailed", async () => {
    let broken = false;
    const adapter = faultyAdapter(
      new MemoryDisk(),
      () => broken,
      () => ({
        write: () => {
          const revocable = Proxy.revocable({}, {});
          revocable.revoke();
          throw revocable.proxy;
        },
      }),
    );
    const spool = await openSpool({ dir: "fault-revoked", adapter });
    broken = true;
    const error = await spool
      .writer()
      .append("x")
      .catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(SpoolFailed);
    expect(spool.stats().state).toBe("failed");
    await spool.close();
  });
});

/** A synchronizer over a fresh memory adapter, with no spool around it. */
async function bareSynchronizer(dir: string, onFailure?: (failure: SpoolFailed) => void) {
  const config = resolveConfig({});
  const adapter = await memoryAdapter()({
    dir,
    segmentByteSize: config.segmentByteSize,
    pageByteSize: config.pageByteSize,
  });
  const cursor: AppendCursor = {
    segment: segmentNumber(1),
    offset: byteOffset(0),
    nextSeq: 1 as Seq,
  };
  const synchronizer = new Synchronizer({
    dir,
    config,
    adapter,
    cursor,
    clock: () => 0,
    ...(onFailure === undefined ? {} : { onFailure }),
  });
  return { config, adapter, synchronizer };
}

describe("a writer cannot die silently", () => {
  it("a writer whose effect throws fails its appends and the synchronizer it reaches", async () => {
    const { config, adapter, synchronizer } = await bareSynchronizer("writer-fault");
    // A lock that cannot be taken: the writer machine's `lock.acquire` effect throws.
    const lock: SharedLock = {
      holder: null,
      acquire: () => {
        throw new Error("lock word corrupted");
      },
      tryAcquire: () => {
        throw new Error("lock word corrupted");
      },
      release: () => undefined,
    };
    const id = 1 as WriterId;
    const sender = new SenderRuntime({ id, dir: "writer-fault", config, lock, synchronizer });
    const outcomes = await Promise.allSettled([
      sender.append(id, new Uint8Array([1]), "flushed"),
      sender.append(id, new Uint8Array([2]), "flushed"),
    ]);
    for (const outcome of outcomes) {
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(SpoolFailed);
    }
    expect(synchronizer.state()).toBe("failed");
    const later = sender.append(id, new Uint8Array([3]), "flushed");
    expect(await rejectsWithinMicrotasks(later)).toBe(synchronizer.failure());
    await synchronizer.close();
    await adapter.close();
  });
});

describe("an onBatch listener cannot stop the spool", () => {
  it("a listener that throws is dropped and every append still resolves", async () => {
    const spool = await openSpool({ dir: "listener-throws", adapter: memoryAdapter() });
    let calls = 0;
    spool.onBatch(() => {
      calls += 1;
      throw new Error("metrics exporter down");
    });
    const writer = spool.writer();
    await writer.append("a");
    await writer.append("b");
    expect(calls).toBe(1);
    expect(spool.stats().state).not.toMatch(/failed|broken/);
    await spool.close();
  });
});

describe("the synchronizer machine cannot die silently", () => {
  it("a transition that throws fails the requests it held and the ones it took", async () => {
    let onFailure: SpoolFailed | undefined;
    const { adapter, synchronizer } = await bareSynchronizer("machine", (failure) => {
      onFailure = failure;
    });
    const failedWith: unknown[] = [];
    const endpoint: WriterEndpoint = {
      id: 1 as WriterId,
      written: () => undefined,
      resend: () => undefined,
      failed: (requests, error) => {
        for (const _ of requests) failedWith.push(error);
      },
    };
    synchronizer.register(endpoint);
    const request = (id: number, payload: unknown): WriteRequest => ({
      id: id as RequestId,
      writerId: endpoint.id,
      senderId: endpoint.id,
      payload: payload as Uint8Array,
      durability: "flushed",
      target: undefined,
    });
    // A request no writer can make any more (append validates its payload): it makes the
    // machine's arithmetic fail, as the issue's `{ byteLength: NaN }` once did.
    synchronizer.actor.send({
      type: "sync.requests",
      requests: [request(1, new Uint8Array(1)), request(2, { byteLength: Number.NaN })],
      atMs: 0,
    });
    expect(synchronizer.actor.getSnapshot().status).toBe("error");
    expect(onFailure).toBeInstanceOf(SpoolFailed);
    expect(failedWith).toEqual([onFailure, onFailure]);
    expect(synchronizer.state()).toBe("failed");
    expect(synchronizer.send([request(3, new Uint8Array(1))], () => undefined)).toBe(onFailure);
    await synchronizer.close();
    await adapter.close();
  });
});

describe("describeFault never throws, whatever was thrown", () => {
  it("describes an Error by its name and message", () => {
    expect(describeFault("the clock", new RangeError("no time"))).toBe(
      "the clock threw RangeError: no time",
    );
  });

  it("names a broken invariant by its class, so SpoolFailed's reason says it is a bug", () => {
    const violation = new InvariantViolation({ message: "synchronizer: no batch in flight" });
    expect(describeFault("the synchronizer", violation)).toBe(
      "the synchronizer threw InvariantViolation: synchronizer: no batch in flight",
    );
    expect(isInputOutputError(violation)).toBe(false);
  });

  it("describes a thrown object without a prototype, on which String() throws", () => {
    expect(describeFault("the adapter", Object.create(null))).toBe(
      "the adapter threw an object without a prototype",
    );
  });

  it("describes a thrown revoked Proxy, on which instanceof throws", () => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    expect(describeFault("the adapter", revocable.proxy)).toBe(
      "the adapter threw an object that throws when inspected",
    );
  });
});
