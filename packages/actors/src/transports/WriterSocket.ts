/**
 * Writers in other processes (claim 34 across processes): the spool serves them over a
 * Unix-domain socket ({@link serveWriters}) and a process connects a writer with
 * {@link connectSocketWriter}. The frames are in `SocketFrames.ts`; behind them run the same
 * endpoint and writer machine as a worker thread's writer (`WriterPort.ts`).
 *
 * Who may write: the socket lives in a directory only the spool's owner can enter (0700, when
 * serveWriters makes it; see `SocketPath.ts`) and is
 * itself 0600, and the spool checks each connecting process's kernel credentials (SO_PEERCRED)
 * against `allowUids`, refusing anyone else with a `refused` frame that names the uid.
 *
 * Sessions: each connection is a session with a lease and a fencing token. The writer renews the
 * lease with a ping every third of it; a session not heard from for a whole lease (a stopped or
 * wedged process) is refused and its connection closed, so nothing it sends later is read, and
 * the spool stops waiting for its confirmations. Tokens rise across restarts of the spool (an
 * epoch kept durably beside the socket), and every frame after `connect` carries its session's
 * token: a frame with any other token closes the connection. A writer never touches the spool's
 * files, so a stale writer can at worst have its frames refused, never write over a live one.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";
import { ConfigInvalid, SpoolClosed, SpoolUnreachable } from "@spool/core";
import { checkDurationMs, checkOptions } from "../internal/Arguments.js";
import type { Spool } from "../spool/Spool.js";
import {
  decodeSpoolFrame,
  decodeWriterFrame,
  encodeConnect,
  encodePing,
  encodeToSpool,
  encodeToWriter,
  FrameInvalid,
  FrameReader,
  SOCKET_PROTOCOL_VERSION,
  type SpoolFrame,
  type WriterFrame,
} from "./SocketFrames.js";
import { EPOCH_FILE_NAME, removeStaleSocket, socketDirectory } from "./SocketPath.js";
import {
  connectLink,
  type Link,
  type PortWriter,
  type ToSpool,
  type ToWriter,
} from "./WriterPort.js";

/** Options of {@link serveWriters}. @example { leaseMs: 10_000 } */
export interface WriterServerOptions {
  /**
   * The socket's path; `<spool dir>/run/writers.sock` by default. A directory made for it is
   * 0700; an existing one keeps its mode. Only a stale socket of a spool is replaced there:
   * anything else at the path is `ConfigInvalid`.
   */
  readonly path?: string;
  /** How long a session lives without a frame from its writer; 10 s by default. */
  readonly leaseMs?: number;
  /** Users whose processes may write; the spool's own user by default. */
  readonly allowUids?: readonly number[];
}

/** A running socket server. @example await server.close() */
export interface WriterServer {
  readonly path: string;
  /** Sessions connected now. */
  readonly sessions: number;
  /** Stops serving: every session's connection closes (their pending appends fail). */
  close(): Promise<void>;
}

const DEFAULT_LEASE_MS = 10_000;
/** A session's number within its epoch takes the low 21 bits of the token. */
const SESSIONS_PER_EPOCH = 2 ** 21;
/** Room for a frame's header and a send frame's per-request fields around the largest record. */
const FRAME_OVERHEAD_BYTE_SIZE = 64 * 1024;
/**
 * What a request costs the spool beyond its payload while its group arrives (its object, its
 * ids): counted against the group's limit, so a group of empty requests is bounded too.
 */
const REQUEST_OVERHEAD_BYTE_SIZE = 256;
/** Answers a writer may leave unread before its session ends: many batches' worth. */
const ANSWERS_UNREAD_BYTE_SIZE_MAX = 16 * 1024 * 1024;
/** Frames from the spool are small, except `written` for a very large batch. */
const SPOOL_FRAME_BYTE_SIZE_MAX = 256 * 1024 * 1024;

/** The kernel's word on who is at the other end of an accepted connection. */
type PeerCheck = (socket: net.Socket) => { readonly pid: number; readonly uid: number };

/**
 * Serves writers in other processes on a Unix socket.
 *
 * @example
 * const server = await serveWriters(spool);
 * // in another process: const writer = await connectSocketWriter(server.path);
 */
export async function serveWriters(
  spool: Spool,
  options: WriterServerOptions = {},
): Promise<WriterServer> {
  const socketPath = path.resolve(options.path ?? path.join(spool.dir, "run", "writers.sock"));
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const allowUids = options.allowUids ?? [process.getuid!()];
  if (!(leaseMs >= 100 && leaseMs <= 3_600_000)) {
    throw new ConfigInvalid({ field: "leaseMs", message: "must be between 100 and 3600000 ms" });
  }
  const runDir = path.dirname(socketPath);
  await socketDirectory(runDir);
  const epochFile = path.join(runDir, EPOCH_FILE_NAME);
  await removeStaleSocket(socketPath, epochFile);
  const epoch = await nextEpoch(epochFile);
  const peer = await loadPeerCheck();

  const frameByteSizeMax = spool.config.recordPayloadByteSizeMax + FRAME_OVERHEAD_BYTE_SIZE;
  const groupByteSizeMax = spool.config.temporaryStorageByteSizeMax;
  const sessions = new Set<Session>();
  let sessionCount = 0;

  const server = net.createServer((socket) => {
    const refuse = (reason: string): void => sayLastWord(socket, reason, leaseMs);
    let who: { pid: number; uid: number };
    try {
      who = peer(socket);
    } catch (cause) {
      refuse(`the spool could not read this connection's credentials: ${String(cause)}`);
      return;
    }
    if (!allowUids.includes(who.uid)) {
      refuse(`uid ${who.uid} may not write to this spool (allowed: ${allowUids.join(", ")})`);
      return;
    }
    sessionCount += 1;
    if (sessionCount >= SESSIONS_PER_EPOCH) {
      refuse("this spool process has run out of session tokens; restart it");
      return;
    }
    const session = new Session(socket, {
      token: epoch * SESSIONS_PER_EPOCH + sessionCount,
      leaseMs,
      frameByteSizeMax,
      groupByteSizeMax,
      open: (link) => spool.remoteWriter(link),
      onEnd: () => sessions.delete(session),
    });
    sessions.add(session);
  });

  const checkEveryMs = Math.max(25, Math.floor(leaseMs / 4));
  let checkedAt = performance.now();
  const expiry = setInterval(() => {
    const now = performance.now();
    const late = now - checkedAt > 2 * checkEveryMs;
    checkedAt = now;
    // After a stall of this process the writers' pings may still be unread: no expiry then.
    if (late) return;
    for (const session of sessions) session.expireIfSilentSince(now - leaseMs);
  }, checkEveryMs);
  expiry.unref();

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => {
      clearInterval(expiry);
      reject(error);
    });
    server.listen(socketPath, () => {
      server.removeAllListeners("error");
      // Accept errors (EMFILE) cost the connection being accepted, not the spool's process.
      server.on("error", () => undefined);
      resolve();
    });
  });
  await fs.chmod(socketPath, 0o600);

  let closing: Promise<void> | undefined;
  return {
    path: socketPath,
    get sessions() {
      return sessions.size;
    },
    close() {
      closing ??= (async () => {
        clearInterval(expiry);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const session of [...sessions]) session.end("the spool stopped serving writers");
        await stopped;
        // Only our socket: whatever someone put at the path since is not ours to remove.
        const left = await fs.lstat(socketPath).catch(() => undefined);
        if (left?.isSocket()) await fs.rm(socketPath, { force: true });
      })();
      return closing;
    },
  };
}

interface SessionOptions {
  readonly token: number;
  readonly leaseMs: number;
  readonly frameByteSizeMax: number;
  readonly groupByteSizeMax: number;
  readonly open: (link: Link<ToSpool, ToWriter>) => unknown;
  readonly onEnd: () => void;
}

/** One writer process's connection, from `connect` to close. */
class Session {
  readonly #socket: net.Socket;
  readonly #options: SessionOptions;
  #heardAt = performance.now();
  #connected = false;
  /** Parts of a `send` split over several frames, until its last part. */
  #parts: ToSpool[] = [];
  #partsByteSize = 0;
  #deliver: ((message: ToSpool) => void) | undefined;
  #onClose: (() => void) | undefined;
  #ended = false;

  constructor(socket: net.Socket, options: SessionOptions) {
    this.#socket = socket;
    this.#options = options;
    const reader = new FrameReader(options.frameByteSizeMax);
    socket.on("data", (chunk: Buffer) => {
      if (this.#ended) return;
      // Any bytes renew the lease: a ping still being read after a stall counts.
      this.#heardAt = performance.now();
      try {
        for (const body of reader.push(chunk)) this.#receive(body);
      } catch (error) {
        if (!(error instanceof FrameInvalid)) throw error;
        this.end(`protocol error: ${error.message}`);
      }
    });
    socket.on("error", () => this.#closed());
    socket.on("close", () => this.#closed());
  }

  #receive(body: Uint8Array): void {
    const frame = decodeWriterFrame(body);
    if (!this.#connected) {
      if (frame.t !== "connect") throw new FrameInvalid("the first frame must be connect");
      if (frame.version !== SOCKET_PROTOCOL_VERSION) {
        this.end(
          `protocol version ${frame.version} (this spool speaks ${SOCKET_PROTOCOL_VERSION})`,
        );
        return;
      }
      this.#connected = true;
      const { token, leaseMs } = this.#options;
      this.#socket.write(encodeToWriter({ t: "session", token, leaseMs }));
      this.#open();
      return;
    }
    this.#receiveAfterConnect(frame);
  }

  /** Registers the session with the spool; a spool that is closing refuses it. */
  #open(): void {
    try {
      this.#options.open({
        post: (message) => {
          if (this.#ended) return;
          this.#socket.write(encodeToWriter(message));
          // A writer that stops reading its answers would make the spool buffer them all.
          if (this.#socket.writableLength > ANSWERS_UNREAD_BYTE_SIZE_MAX) {
            this.end("the writer does not read the spool's answers");
          }
        },
        listen: (onMessage, onClose) => {
          this.#deliver = onMessage;
          this.#onClose = onClose;
        },
        close: () => this.end("the spool closed"),
      });
    } catch (error) {
      this.end(`the spool takes no writers now: ${(error as Error).message}`);
    }
  }

  #receiveAfterConnect(frame: WriterFrame): void {
    if (frame.t === "connect") throw new FrameInvalid("connect sent twice");
    if (frame.token !== this.#options.token) {
      throw new FrameInvalid(`token ${frame.token} is not this session's`);
    }
    if (frame.t === "ping") return;
    if (frame.message.t === "confirmed") {
      this.#deliver?.(frame.message);
      return;
    }
    this.#parts.push(frame.message);
    for (const request of frame.message.requests) {
      this.#partsByteSize += REQUEST_OVERHEAD_BYTE_SIZE + request.payload.byteLength;
    }
    if (this.#partsByteSize > this.#options.groupByteSizeMax) {
      throw new FrameInvalid(`a request group over ${this.#options.groupByteSizeMax} bytes`);
    }
    if (!frame.last) return;
    const parts = this.#parts;
    this.#parts = [];
    this.#partsByteSize = 0;
    const requests = parts.flatMap((part) => (part.t === "send" ? part.requests : []));
    this.#deliver?.({ t: "send", requests });
  }

  /** Ends a session silent since before `cutoff`: its lease expired. */
  expireIfSilentSince(cutoff: number): void {
    if (this.#heardAt < cutoff) this.end(`lease expired (${this.#options.leaseMs} ms silent)`);
  }

  /** Refuses the session with a reason and closes its connection. Idempotent. */
  end(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    sayLastWord(this.#socket, reason, this.#options.leaseMs);
    this.#closed();
  }

  #closed(): void {
    this.#ended = true;
    const onClose = this.#onClose;
    this.#onClose = undefined;
    onClose?.();
    // Idempotent (the server forgets the session), so every path to here may call it.
    this.#options.onEnd();
  }
}

/**
 * Sends `refused` with the reason and half-closes, reading on (and dropping what comes) until
 * the writer closes its end or `graceMs` passes. Closing at once would reset the connection
 * when the writer's frames are still arriving, and a reset can drop the refusal unread (a
 * stopped writer would wake to "connection closed", not to why).
 */
function sayLastWord(socket: net.Socket, reason: string, graceMs: number): void {
  if (socket.destroyed) return;
  socket.removeAllListeners("data");
  socket.on("data", () => undefined);
  socket.end(encodeToWriter({ t: "refused", reason }));
  setTimeout(() => socket.destroy(), Math.max(graceMs, 1000)).unref();
}

/** Options of {@link connectSocketWriter}. @example { timeoutMs: 5000 } */
export interface SocketWriterOptions {
  /** How long to wait for the spool's answer before giving up; 10 s by default. */
  readonly timeoutMs?: number;
}

/**
 * Connects a writer in this process to a spool served by {@link serveWriters}. Rejects with
 * SpoolUnreachable when nobody serves the path or the spool refuses this process, and with
 * InvalidArgument when `timeoutMs` is not a number of milliseconds from 1 to `DURATION_MS_MAX`;
 * once connected, appends pending when the connection is lost fail with SpoolUnreachable.
 *
 * @example
 * const writer = await connectSocketWriter("/var/spool/mms/run/writers.sock");
 * await writer.append("from another process");
 */
export function connectSocketWriter(
  socketPath: string,
  options: SocketWriterOptions = {},
): Promise<PortWriter> {
  const unreachable = (reason: string) => new SpoolUnreachable({ dir: socketPath, reason });
  let timeoutMs: number;
  try {
    const given = checkOptions(options, ["timeoutMs"]);
    timeoutMs =
      given.timeoutMs === undefined ? 10_000 : checkDurationMs(given.timeoutMs, "timeoutMs", 1);
  } catch (error) {
    return Promise.reject(error);
  }
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    const timeout = setTimeout(() => {
      socket.destroy();
      reject(unreachable(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    let refusal: string | undefined;
    let session: { token: number; leaseMs: number } | undefined;
    let frameByteSizeMax = 0;
    let ping: NodeJS.Timeout | undefined;
    let deliver: ((message: ToWriter) => void) | undefined;
    let onClose: (() => void) | undefined;
    let settled = false;
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      reject(unreachable(reason));
    };

    const link: Link<ToWriter, ToSpool> = {
      post: (message) => {
        if (session === undefined || socket.destroyed) return;
        for (const frame of encodeToSpool(message, session.token, frameByteSizeMax)) {
          socket.write(frame);
        }
      },
      listen: (onMessage, closed) => {
        deliver = onMessage;
        onClose = closed;
      },
      close: () => socket.destroy(),
    };
    const writer = connectLink(link, (reason) =>
      reason === "closed"
        ? new SpoolClosed({ dir: socketPath })
        : unreachable(refusal ?? "the connection to the spool closed"),
    );
    // Before `hello`, a refusal or a failed connection answers the caller through `fail`.
    writer.catch(() => undefined);

    const reader = new FrameReader(SPOOL_FRAME_BYTE_SIZE_MAX);
    const receive = (frame: SpoolFrame): void => {
      if (frame.t === "refused") {
        refusal = `refused by the spool: ${frame.reason}`;
        fail(refusal);
        return;
      }
      if (frame.t === "session") {
        session = { token: frame.token, leaseMs: frame.leaseMs };
        const token = frame.token;
        ping = setInterval(
          () => {
            if (!socket.destroyed) socket.write(encodePing(token));
          },
          Math.max(10, Math.floor(frame.leaseMs / 3)),
        );
        ping.unref();
        return;
      }
      if (frame.t === "hello") {
        frameByteSizeMax = frame.config.recordPayloadByteSizeMax + FRAME_OVERHEAD_BYTE_SIZE;
        settled = true;
        clearTimeout(timeout);
        writer.then(resolve, reject);
      }
      deliver?.(frame);
    };
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const body of reader.push(chunk)) receive(decodeSpoolFrame(body));
      } catch (error) {
        if (!(error instanceof FrameInvalid)) throw error;
        refusal = `the spool sent a bad frame: ${error.message}`;
        socket.destroy();
      }
    });
    socket.on("connect", () => socket.write(encodeConnect(process.pid)));
    // An error is only remembered: a refusal may still be in the data read before the close.
    let failure: string | undefined;
    socket.on("error", (error: NodeJS.ErrnoException) => {
      failure ??= `cannot reach ${socketPath}: ${error.code ?? error.message}`;
    });
    socket.on("close", () => {
      clearInterval(ping);
      refusal ??= failure;
      fail(refusal ?? "the spool closed the connection");
      onClose?.();
    });
  });
}

/** The epoch after the one recorded in `file`, recorded durably before any session uses it. */
async function nextEpoch(file: string): Promise<number> {
  const text = await fs.readFile(file, "utf8").catch(() => "0");
  const last = Number.parseInt(text, 10);
  const epoch = (Number.isSafeInteger(last) && last >= 0 ? last : 0) + 1;
  const temporary = `${file}.${randomUUID()}`;
  const handle = await fs.open(temporary, "w", 0o600);
  try {
    await handle.writeFile(`${epoch}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temporary, file);
  const dir = await fs.open(path.dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return epoch;
}

/** The SO_PEERCRED reader, loaded only when a server starts (it is a native addon). */
async function loadPeerCheck(): Promise<PeerCheck> {
  const { peerCredentials } = await import("@spool/peercred");
  return peerCredentials;
}
