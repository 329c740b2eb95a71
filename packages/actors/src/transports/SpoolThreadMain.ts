/**
 * The entry of a spool's own thread ({@link openSpoolThread}): opens the spool named in
 * workerData and answers the application thread's requests (a writer port, stats, close).
 */
import { parentPort, workerData } from "node:worker_threads";
import { fileAdapter, mmapAdapter } from "@spool/adapters";
import { openSpool } from "../spool/Spool.js";
import {
  type SpoolThreadOptions,
  THREAD_BLOCKING_FLUSH_BYTE_SIZE_MAX,
  type ThreadAnswer,
  type ThreadRequest,
} from "./SpoolThread.js";

const { adapter, blockingFlushByteSizeMax, ...options } = workerData as SpoolThreadOptions;
const factory =
  adapter === "mmap-msync"
    ? mmapAdapter({ flushMethod: "msync" })
    : adapter === "mmap-fdatasync"
      ? mmapAdapter({ flushMethod: "fdatasync" })
      : fileAdapter({
          blockingFlushByteSizeMax: blockingFlushByteSizeMax ?? THREAD_BLOCKING_FLUSH_BYTE_SIZE_MAX,
        });
const port = parentPort!;
const opened = openSpool({ ...options, adapter: factory });

port.on("message", async (request: ThreadRequest) => {
  try {
    const spool = await opened;
    if (request.op === "port") {
      const writerPort = spool.port();
      port.postMessage({ id: request.id, ok: true, value: writerPort } satisfies ThreadAnswer, [
        writerPort,
      ]);
      return;
    }
    if (request.op === "close") await spool.close();
    const value = request.op === "stats" ? spool.stats() : undefined;
    port.postMessage({ id: request.id, ok: true, value } satisfies ThreadAnswer);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    port.postMessage({ id: request.id, ok: false, error: message } satisfies ThreadAnswer);
  }
});
