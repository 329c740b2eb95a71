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
