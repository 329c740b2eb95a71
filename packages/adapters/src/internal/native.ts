/**
 * The only module that touches native mmap code (as lmdb-js keeps its addon behind one file).
 * @riaskov/mmap-io is a maintained fork of mmap-io that builds on Node 20 without flags.
 */
import { createRequire } from "node:module";

interface MmapIo {
  map(
    size: number,
    protection: number,
    flags: number,
    fd: number,
    offset?: number,
    advise?: number,
  ): Buffer;
  sync(
    buffer: Buffer,
    offset: number,
    size: number,
    blockingSync: boolean,
    invalidate: boolean,
  ): void;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MADV_SEQUENTIAL: number;
  readonly PAGESIZE: number;
}

const mmapIo = createRequire(import.meta.url)("@riaskov/mmap-io") as MmapIo;

/** The system page size as the addon reports it. */
export const systemPageByteSize: number = mmapIo.PAGESIZE;

/** Maps `byteSize` bytes of an open file, shared and writable, from offset 0. */
export function mapShared(fd: number, byteSize: number): Buffer {
  return mmapIo.map(
    byteSize,
    mmapIo.PROT_READ | mmapIo.PROT_WRITE,
    mmapIo.MAP_SHARED,
    fd,
    0,
    mmapIo.MADV_SEQUENTIAL,
  );
}

/**
 * msync on a page-aligned range: MS_SYNC when `blocking` (it blocks this thread until the
 * pages are on disk), MS_ASYNC otherwise (it schedules writeback and returns).
 */
export function msync(map: Buffer, offset: number, byteSize: number, blocking: boolean): void {
  mmapIo.sync(map, offset, byteSize, blocking, false);
}
