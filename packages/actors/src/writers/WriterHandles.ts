/**
 * The spool's writers (claim 34): the handles `spool.writer()` gives out in this thread, and
 * the endpoints of writers in other threads and processes, all sharing one lock, one sender
 * runtime and one sequence of writer ids.
 */
import {
  describeValue,
  InvalidArgument,
  type SpoolConfig,
  type SpoolFailed,
  type SpoolFull,
  writerId,
} from "@spool/core";
import { requestRingBuffer } from "../internal/RequestRing.js";
import type { Synchronizer } from "../synchronizer/Synchronizer.js";
import {
  type Link,
  type PortHost,
  REMOTE_REQUEST_ID_BASE,
  RemoteEndpoint,
  type ToSpool,
  type ToWriter,
} from "../transports/WriterPort.js";
import { SHARED_LOCK_BYTE_SIZE, SharedMemoryLock } from "./SharedMemoryLock.js";
import { SenderRuntime, Writer } from "./Writer.js";

/** What a spool's writers share. @example { dir, config, synchronizer, reserve } */
export interface WriterHandlesOptions {
  readonly dir: string;
  readonly config: SpoolConfig;
  readonly synchronizer: Synchronizer;
  /** The disk budget's check for one more record; undefined when there is no budget. */
  readonly reserve: ((payloadByteSize: number) => SpoolFull | undefined) | undefined;
}

/**
 * The writers of one spool, local and remote.
 *
 * @example
 * const writer = handles.open("smsc-1");
 */
export class WriterHandles {
  readonly #options: WriterHandlesOptions;
  /** Claim 34's lock, in shared memory so writers in worker threads take the same one. */
  readonly #lock = new SharedMemoryLock(new SharedArrayBuffer(SHARED_LOCK_BYTE_SIZE));
  readonly #remotes = new Set<RemoteEndpoint>();
  #nextRemoteRequestId = REMOTE_REQUEST_ID_BASE;
  readonly #writers = new Set<Writer>();
  readonly #sender: SenderRuntime;
  // Writer id 0 is this thread's sender; handles count up from 1.
  #nextWriterId = 1;

  constructor(options: WriterHandlesOptions) {
    this.#options = options;
    const { dir, config, synchronizer } = options;
    this.#sender = new SenderRuntime({
      id: writerId(0),
      dir,
      config,
      lock: this.#lock,
      synchronizer,
    });
  }

  /** This thread's claim-34 writer, which carries every local handle's appends. */
  get sender(): SenderRuntime {
    return this.#sender;
  }

  /** A new writer in this thread; throws `InvalidArgument` for a name that is not a string. */
  open(name: string | undefined): Writer {
    if (name !== undefined && typeof name !== "string") {
      const message = `name: must be a string or omitted, not ${describeValue(name)}`;
      throw new InvalidArgument({ argument: "name", message });
    }
    const { dir, config, reserve } = this.#options;
    const id = writerId(this.#nextWriterId++);
    const writer = new Writer(id, name ?? `writer-${id}`, this.#sender, dir, config, reserve);
    this.#writers.add(writer);
    return writer;
  }

  /**
   * The spool's end of a remote writer's link (a thread's port, a process's socket):
   * registered with the synchronizer until the link closes or the spool does. A thread's
   * writer that shares memory (`sharedMemory`) gets the lock and a request ring of its own.
   */
  remote(link: Link<ToSpool, ToWriter>, sharedMemory = false): RemoteEndpoint {
    const host: PortHost = {
      dir: this.#options.dir,
      config: this.#options.config,
      synchronizer: this.#options.synchronizer,
      lock: this.#lock,
      nextWriterId: () => writerId(this.#nextWriterId++),
      nextRequestId: () => this.#nextRemoteRequestId++,
    };
    const ring = sharedMemory ? requestRingBuffer() : undefined;
    const endpoint: RemoteEndpoint = new RemoteEndpoint(
      host,
      link,
      () => this.#remotes.delete(endpoint),
      ring,
    );
    this.#remotes.add(endpoint);
    return endpoint;
  }

  /** Tells every remote writer that the spool failed. */
  spoolFailed(failure: SpoolFailed): void {
    for (const remote of this.#remotes) remote.spoolFailed(failure);
  }

  /** Closes this thread's handles and sends on what they appended before (drained, not refused). */
  closeLocal(): void {
    for (const writer of this.#writers) writer.close();
    this.#sender.flushOutbox();
  }

  /** Closes every remote writer's endpoint. */
  closeRemote(): void {
    for (const endpoint of [...this.#remotes]) endpoint.close();
  }
}
