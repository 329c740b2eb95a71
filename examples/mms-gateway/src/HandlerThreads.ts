/**
 * Protocol handlers on several cores: worker threads that parse submissions and append them
 * through writers connected to the gateway's one spool (`spool.port()` / `connectWriter`: claim
 * 34 across threads, one synchronizer for all). The HTTP thread reads bodies and answers; a
 * body moves to its thread without a copy (its buffer is transferred).
 */
import { type MessagePort, Worker } from "node:worker_threads";
import type { GatewayLimits } from "./Limits.js";
import { Mm7Fault } from "./Mm7.js";
import { type Accepted, Refused, type SubmissionInput } from "./Submit.js";

/** A submission for a handler thread. */
export interface HandlerRequest {
  readonly id: number;
  readonly contentType: string | undefined;
  readonly body: Uint8Array;
  readonly vaspId: string;
}

/** A handler thread's answer. */
export type HandlerAnswer =
  | ({ readonly id: number; readonly ok: true } & Accepted)
  | {
      readonly id: number;
      readonly ok: false;
      readonly statusCode: number;
      readonly message: string;
      readonly side: Mm7Fault["side"];
      readonly namespace: string;
      readonly transactionId: string;
    };

/** What a handler thread says once its writer is connected. */
export interface HandlerReady {
  readonly ready: true;
}

/** Submissions in flight per thread before the HTTP thread waits: bounds the queued bodies. */
const IN_FLIGHT_PER_THREAD_MAX = 256;

/** One handler thread and the submissions it has not answered. */
interface Handler {
  readonly worker: Worker;
  readonly pending: Map<number, (answer: HandlerAnswer) => void>;
}

export class HandlerThreads {
  /** Live threads; one that fails or exits leaves the rotation. */
  #handlers: Handler[];
  #nextId = 1;
  #turn = 0;
  /**
   * Resolves once every thread has connected its writer, or is gone: a thread starts through
   * a module load that takes seconds on a loaded machine, and is ready only after it.
   */
  readonly ready: Promise<void>;

  /** `portOf` gives a new writer's port to the spool: `spool.port()` of a directory's spool. */
  constructor(portOf: () => MessagePort, count: number, limits: GatewayLimits) {
    const started: Promise<void>[] = [];
    this.#handlers = Array.from({ length: count }, () => {
      const port = portOf();
      const handler: Handler = {
        worker: startWorker({ port, limits }, [port]),
        pending: new Map(),
      };
      let settle = () => {};
      started.push(new Promise<void>((resolve) => (settle = resolve)));
      handler.worker.on("message", (answer: HandlerAnswer | HandlerReady) => {
        if ("ready" in answer) return settle();
        handler.pending.get(answer.id)?.(answer);
        handler.pending.delete(answer.id);
      });
      const lose = (why: string) => {
        settle();
        this.#lose(handler, why);
      };
      handler.worker.on("error", (error) => lose(`a handler thread failed: ${error.message}`));
      handler.worker.on("exit", (code) => lose(`a handler thread exited (code ${code})`));
      return handler;
    });
    this.ready = Promise.all(started).then(() => undefined);
  }

  /**
   * A thread is gone: its unanswered submissions fail (they may have been stored: the VASP
   * sends them again, at-least-once), and it takes no more.
   */
  #lose(handler: Handler, why: string): void {
    this.#handlers = this.#handlers.filter((other) => other !== handler);
    for (const [id, answer] of handler.pending) {
      answer({
        id,
        ok: false,
        statusCode: 3000,
        message: why,
        side: "Server",
        namespace: "",
        transactionId: "",
      });
    }
    handler.pending.clear();
  }

  /** Hands a submission to the next thread, round robin. */
  async submit(input: SubmissionInput): Promise<Accepted> {
    for (;;) {
      if (this.#handlers.length === 0) {
        throw new Refused(new Mm7Fault(3000, "no handler thread is running", "Server"));
      }
      const handler = this.#handlers[this.#turn++ % this.#handlers.length]!;
      if (handler.pending.size < IN_FLIGHT_PER_THREAD_MAX) return this.#submitTo(handler, input);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  async #submitTo(handler: Handler, input: SubmissionInput): Promise<Accepted> {
    const id = this.#nextId++;
    // A copy only when the body shares its buffer (a pooled chunk); otherwise it moves.
    const body =
      input.body.byteOffset === 0 && input.body.byteLength === input.body.buffer.byteLength
        ? input.body
        : input.body.slice();
    const answer = await new Promise<HandlerAnswer>((resolve) => {
      handler.pending.set(id, resolve);
      const request: HandlerRequest = {
        id,
        contentType: input.contentType,
        body,
        vaspId: input.vaspId,
      };
      handler.worker.postMessage(request, [body.buffer as ArrayBuffer]);
    });
    if (answer.ok) return answer;
    const fault = new Mm7Fault(answer.statusCode, answer.message, answer.side);
    throw new Refused(fault, answer.namespace || undefined, answer.transactionId);
  }

  async close(): Promise<void> {
    const handlers = this.#handlers;
    this.#handlers = [];
    await Promise.all(handlers.map(({ worker }) => worker.terminate()));
  }
}

/**
 * The worker, from its compiled entry; from the TypeScript sources (tests), through tsx, which
 * a worker does not inherit from `--import`.
 */
function startWorker(workerData: unknown, transferList: readonly MessagePort[]): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(fromSource ? "./HandlerThread.ts" : "./HandlerThread.js", import.meta.url);
  const options = { workerData, transferList: [...transferList] as never };
  if (!fromSource) return new Worker(entry, options);
  const boot = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { ...options, eval: true });
}
