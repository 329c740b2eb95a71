/**
 * The other placement of claim 34's synchronization process: the spool (its synchronizer, its
 * adapter, its flushes) in a worker thread of its own, so a flush that blocks its thread (the
 * mmap adapter's msync) never stalls the application's event loop. Writers in the application's
 * thread reach it over ports, as writers in any other thread do (`WriterPort.ts`).
 *
 * Measured against the default placement (the spool in the application's thread) by the bench's
 * `spool-thread-placement` rows; the default stays in-process because it measured faster (see the
 * README's performance section). Consumers (take/ack) are not offered across the thread: this
 * placement is for processes that only append.
 */
import { Worker } from "node:worker_threads";
import { fileAdapter } from "@spool/adapters";
import type { SpoolOptions } from "@spool/core";
import type { SpoolStats } from "../spool/Spool.js";
import { connectWriter, type PortWriter } from "./WriterPort.js";

/** The adapters a spool thread can open (an adapter factory cannot cross threads). */
export type ThreadAdapterName = "file" | "mmap-fdatasync" | "mmap-msync";

/** Options of {@link openSpoolThread}. @example { dir: "./spool-data", adapter: "mmap-msync" } */
export interface SpoolThreadOptions extends SpoolOptions {
  readonly dir: string;
  /** `file` by default. */
  readonly adapter?: ThreadAdapterName;
  /**
   * The file adapter's `blockingFlushByteSizeMax`: 64 KiB by default here, since the spool's
   * thread runs nothing else for a flush to hold up (0 flushes through libuv's pool). The mmap
   * adapters ignore it.
   */
  readonly blockingFlushByteSizeMax?: number;
}

/** The spool thread's default for {@link SpoolThreadOptions.blockingFlushByteSizeMax}. */
export const THREAD_BLOCKING_FLUSH_BYTE_SIZE_MAX = 64 * 1024;

/** A spool running in its own thread. @example const w = await spool.writer(); */
export interface SpoolThread {
  readonly dir: string;
  /** A writer in this thread, connected to the spool's thread. */
  writer(): Promise<PortWriter>;
  stats(): Promise<SpoolStats>;
  /** Closes the spool (appends made before are written) and ends its thread. */
  close(): Promise<void>;
}

/** A request to the spool's thread, and its answer. */
export type ThreadRequest =
  | { readonly id: number; readonly op: "port" }
  | { readonly id: number; readonly op: "stats" }
  | { readonly id: number; readonly op: "close" };
export type ThreadAnswer =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/**
 * Opens a spool in a worker thread of its own. Rejects as `openSpool` would (the error's message
 * crosses; its class does not).
 *
 * @example
 * const spool = await openSpoolThread({ dir: "./spool-data", adapter: "mmap-msync" });
 * const writer = await spool.writer();
 * await writer.append("durable, flushed off this thread");
 */
export async function openSpoolThread(options: SpoolThreadOptions): Promise<SpoolThread> {
  // Checked here, where a bad value's ConfigInvalid keeps its class (the thread would only
  // report it by message).
  fileAdapter({ blockingFlushByteSizeMax: options.blockingFlushByteSizeMax ?? 0 });
  const worker = startWorker(options);
  const pending = new Map<number, (answer: ThreadAnswer) => void>();
  let nextId = 1;
  let exited = false;
  worker.on("message", (answer: ThreadAnswer) => {
    pending.get(answer.id)?.(answer);
    pending.delete(answer.id);
  });
  const gone = new Promise<string>((resolve) => {
    worker.once("error", (error) => resolve(error.message));
    worker.once("exit", (code) => resolve(`the spool's thread exited (code ${code})`));
  });
  void gone.then((reason) => {
    exited = true;
    for (const answer of pending.values()) answer({ id: 0, ok: false, error: reason });
    pending.clear();
  });
  const ask = (op: ThreadRequest["op"]): Promise<unknown> => {
    if (exited) return Promise.reject(new Error("the spool's thread has ended"));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, (answer) =>
        answer.ok ? resolve(answer.value) : reject(new Error(answer.error)),
      );
      worker.postMessage({ id, op } satisfies ThreadRequest);
    });
  };
  // The thread answers the first request once the spool is open (or fails to open).
  try {
    await ask("stats");
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    dir: options.dir,
    writer: async () =>
      connectWriter((await ask("port")) as import("node:worker_threads").MessagePort),
    stats: async () => (await ask("stats")) as SpoolStats,
    close() {
      closing ??= (async () => {
        try {
          await ask("close");
        } finally {
          await worker.terminate();
        }
      })();
      return closing;
    },
  };
}

/**
 * The worker, from its compiled entry; from the TypeScript sources (tests, tsx), through tsx,
 * which a worker does not inherit from `--import`.
 */
function startWorker(options: SpoolThreadOptions): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(
    fromSource ? "./SpoolThreadMain.ts" : "./SpoolThreadMain.js",
    import.meta.url,
  );
  if (!fromSource) return new Worker(entry, { workerData: options });
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData: options });
}
