/**
 * Branded numeric kinds. An offset, a size, a count and a sequence number are all plain
 * numbers at run time; the brands make mixing them a compile error (TigerStyle: index, count
 * and size are different kinds).
 */

declare const brand: unique symbol;

/** A number tagged with the kind of quantity it measures. */
export type Branded<Kind extends string> = number & { readonly [brand]: Kind };

/**
 * A byte position inside one file.
 *
 * @example
 * const start: ByteOffset = byteOffset(4096);
 */
export type ByteOffset = Branded<"ByteOffset">;
/**
 * A length in bytes.
 *
 * @example
 * const length: ByteSize = byteSize(1024);
 */
export type ByteSize = Branded<"ByteSize">;
/**
 * A record's sequence number: dense, starting at 1, assigned by the synchronizer in admission order.
 *
 * @example
 * const first: Seq = seq(1);
 */
export type Seq = Branded<"Seq">;
/**
 * The number of a data segment file (claims 62-63): `data-0000000001.seg` is segment 1.
 *
 * @example
 * const segment: SegmentNumber = segmentNumber(1);
 */
export type SegmentNumber = Branded<"SegmentNumber">;
/**
 * Identifies one writer (claim 34's thread or process) for the lifetime of a spool.
 *
 * @example
 * const writer: WriterId = writerId(7);
 */
export type WriterId = Branded<"WriterId">;

function checkedInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value))
    throw new RangeError(`${what} must be a safe integer: ${value}`);
  if (value < 0) throw new RangeError(`${what} must not be negative: ${value}`);
  return value;
}

/** Brands a non-negative safe integer as a {@link ByteOffset}. @example byteOffset(0) */
export const byteOffset = (value: number): ByteOffset =>
  checkedInteger(value, "ByteOffset") as ByteOffset;
/** Brands a non-negative safe integer as a {@link ByteSize}. @example byteSize(40) */
export const byteSize = (value: number): ByteSize => checkedInteger(value, "ByteSize") as ByteSize;
/** Brands a non-negative safe integer as a {@link Seq}. @example seq(1) */
export const seq = (value: number): Seq => checkedInteger(value, "Seq") as Seq;
/** Brands a non-negative safe integer as a {@link SegmentNumber}. @example segmentNumber(1) */
export const segmentNumber = (value: number): SegmentNumber =>
  checkedInteger(value, "SegmentNumber") as SegmentNumber;
/** Brands a non-negative safe integer as a {@link WriterId}. @example writerId(1) */
export const writerId = (value: number): WriterId => checkedInteger(value, "WriterId") as WriterId;

/**
 * The page that holds a byte: `floor(offset / pageByteSize)` (rounding down, a byte belongs to
 * the page it starts in).
 *
 * @example
 * pageOf(4096, 4096) // 1
 */
export function pageOf(offset: number, pageByteSize: number): number {
  return Math.floor(offset / pageByteSize);
}
