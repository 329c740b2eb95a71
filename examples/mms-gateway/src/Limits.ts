/**
 * What one submission may be: every limit the gateway enforces, by name, so a refusal can say
 * which one was hit (in the SOAP fault's StatusText).
 */

/** The gateway's limits. @example { ...DEFAULT_LIMITS, attachmentCountMax: 4 } */
export interface GatewayLimits {
  /** The whole HTTP body, counted while it arrives (an MMS is typically at most 1 MiB). */
  readonly bodyByteSizeMax: number;
  /** The SOAP envelope: MM7 envelopes are a few KiB; the rest of a message is its content. */
  readonly soapByteSizeMax: number;
  /** Content parts of one message (after a multipart content is opened). */
  readonly attachmentCountMax: number;
  /** One content part. */
  readonly attachmentByteSizeMax: number;
  /** Recipients (To, Cc and Bcc together) of one message. */
  readonly recipientCountMax: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  bodyByteSizeMax: 6 * 1024 * 1024,
  soapByteSizeMax: 64 * 1024,
  attachmentCountMax: 20,
  attachmentByteSizeMax: 5 * 1024 * 1024,
  recipientCountMax: 100,
};

/** A limit was hit; the fault names it. */
export class LimitExceeded extends Error {
  readonly limit: keyof GatewayLimits;
  readonly value: number;

  constructor(limit: keyof GatewayLimits, value: number) {
    super(`limit ${limit} (${value}) exceeded`);
    this.limit = limit;
    this.value = value;
  }
}

/**
 * What the front door allows: connections and how long each may take. Unlike
 * {@link GatewayLimits}, these bound the gateway as a whole, not one submission.
 *
 * @example { ...DEFAULT_CONNECTION_LIMITS, openCountMax: 256 }
 */
export interface ConnectionLimits {
  /**
   * Open connections at most. The gateway lowers it to what the process's descriptor limit
   * leaves once forwarding and the spools have their reserve (`Descriptors.ts`).
   */
  readonly openCountMax: number;
  /** Connections on which no request has yet passed Basic authentication. */
  readonly unauthenticatedCountMax: number;
  /** Open connections from one client address. */
  readonly perAddressCountMax: number;
  /** From a request's first byte to the end of its headers. */
  readonly headersTimeoutMs: number;
  /** The longest wait for the next bytes of a body once it has begun. */
  readonly bodyIdleTimeoutMs: number;
  /** From a request's first byte to the end of its body. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long without a request. */
  readonly keepAliveTimeoutMs: number;
  /**
   * From an answer's last byte handed to Node to its client having taken it all: a client that
   * stops reading its answers is closed after this long, authenticated or not.
   */
  readonly responseTimeoutMs: number;
}

/** The front door's defaults, each with why. @example { ...DEFAULT_CONNECTION_LIMITS } */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  // VASPs are a handful of known peers with a few keep-alive connections each: 1,024 leaves a
  // hundred of them room for ten each, and is Linux's default soft descriptor limit.
  openCountMax: 1024,
  // A VASP's connection proves itself on its first request, within a round trip: only a flood
  // sits here long. Half the open cap, so strangers alone can never fill the door.
  unauthenticatedCountMax: 512,
  // `npm run load` opens 64 connections from one address; a VASP behind one NAT address may
  // need a few times that. A quarter of the open cap, so one address cannot take it all.
  perAddressCountMax: 256,
  // A client sends its headers in one write; 10 s covers a slow link's retransmissions, and is
  // what a slowloris (one header byte a second) can hold a connection at most.
  headersTimeoutMs: 10_000,
  // A body in progress that stalls for 10 s is a stalled or hostile client, not a slow link.
  bodyIdleTimeoutMs: 10_000,
  // The largest body (bodyByteSizeMax, 6 MiB) at 1 Mbit/s takes 50 s.
  requestTimeoutMs: 60_000,
  // Node's own default: a VASP sending steadily reuses its connection well within 5 s.
  keepAliveTimeoutMs: 5_000,
  // Answers are a few KiB, taken within a round trip by a client that reads; 10 s covers a slow
  // link's retransmissions, as for the headers.
  responseTimeoutMs: 10_000,
};

/**
 * What submissions may hold at once, decided from the headers before a body is read: over
 * either bound a submission is told to retry later (MM7 4006, HTTP 503 with Retry-After).
 *
 * @example { ...DEFAULT_IN_FLIGHT_LIMITS, vaspSubmissionCountMax: 8 }
 */
export interface InFlightLimits {
  /**
   * Body bytes held by all submissions in progress: reserved by Content-Length, or as
   * `bodyByteSizeMax` for a body without one, before its first byte is read.
   */
  readonly bodyBytesMax: number;
  /**
   * Of those, the body bytes one VASP's submissions may hold, so that one VASP (a slow or
   * hostile one) cannot hold them all and leave the others only 503s. Half of `bodyBytesMax`
   * when not given, and never less than `bodyByteSizeMax` (`inFlightLimitsOf`).
   */
  readonly vaspBodyBytesMax: number;
  /** Submissions of one VASP in progress at once. */
  readonly vaspSubmissionCountMax: number;
  /** The Retry-After of a busy answer. */
  readonly retryAfterSeconds: number;
}

/** What submissions in progress may hold by default. @example { ...DEFAULT_IN_FLIGHT_LIMITS } */
export const DEFAULT_IN_FLIGHT_LIMITS: InFlightLimits = {
  // About ten of the largest bodies (6 MiB): the gateway's memory stays within about 150 MB of
  // its idle size (measured: 40 unbounded 6 MiB bodies took it from 126 MB to 443 MB).
  bodyBytesMax: 64 * 1024 * 1024,
  // Half: a VASP holding its whole share leaves the other half to the others, five of the
  // largest bodies (6 MiB) at once.
  vaspBodyBytesMax: 32 * 1024 * 1024,
  // `npm run load` submits 64 at once from one VASP, and Spool's batching needs concurrent
  // appends to reach its throughput; the byte bound above limits what big bodies hold.
  vaspSubmissionCountMax: 64,
  // A busy gateway clears its bodies within a second or so (one durable append each).
  retryAfterSeconds: 1,
};
