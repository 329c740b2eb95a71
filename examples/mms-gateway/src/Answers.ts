/**
 * The answers of requests in progress: each is tracked until its response closes, its
 * connection closed when its client does not take it within the response timeout, and waited
 * for, within a bound, when the gateway closes.
 */
import type * as http from "node:http";

/**
 * How long closing waits for requests read whole to be answered: an append is durable within
 * milliseconds, so 5 s lets every submission being stored finish, and bounds a stalled spool.
 */
const CLOSE_DRAIN_MS = 5_000;

/**
 * Requests in progress, by their response.
 *
 * @example
 * const answers = new Answers();
 * server.on("request", (request, response) => { answers.track(response); route(...).finally(
 *   () => answers.written(response, 10_000)); });
 * await answers.drain();
 */
export class Answers {
  readonly #pending = new Map<http.ServerResponse, Promise<void>>();

  /** A request arrived: its answer is pending until its response closes. */
  track(response: http.ServerResponse): void {
    const answered = new Promise<void>((resolve) => response.once("close", resolve));
    this.#pending.set(response, answered);
    answered.then(() => this.#pending.delete(response));
  }

  /**
   * The answer was handed to Node: its connection is closed if its client has not taken it
   * within `timeoutMs`. Node applies no timeout once a request is read, so a client that never
   * reads its answers (pipelining requests until the socket's buffers fill) would otherwise hold
   * its connection for ever, and an authenticated one is never evicted.
   */
  written(response: http.ServerResponse, timeoutMs: number): void {
    if (response.writableFinished || response.destroyed) return;
    const timeout = setTimeout(() => response.socket?.destroy(), timeoutMs);
    const taken = () => clearTimeout(timeout);
    response.once("finish", taken);
    response.once("close", taken);
  }

  /**
   * For closing: cuts the requests whose body is still arriving (as their timeout would), and
   * resolves once the others are answered, or after {@link CLOSE_DRAIN_MS}. A request read whole
   * may be between its append and its answer: cut there, its VASP would retry a stored message.
   */
  async drain(): Promise<void> {
    for (const response of this.#pending.keys()) {
      if (!response.req.complete) response.socket?.destroy();
    }
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise((resolve) => (timeout = setTimeout(resolve, CLOSE_DRAIN_MS)));
    await Promise.race([Promise.allSettled(this.#pending.values()), expired]);
    clearTimeout(timeout);
  }
}
