/**
 * What a Node.js team would pick instead of Spool, each driven the way its documentation says
 * gives durable writes, and the disk's own limits. Every system offers the same thing to the
 * case runner: `writer()` returns an append function whose promise resolves once the message
 * is durable; `flushes()` counts commits where the system tells.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import { createRequire } from "node:module";
import * as path from "node:path";
import Database from "better-sqlite3";
import { ClassicLevel } from "classic-level";
import { open as openLmdb } from "lmdb";

/** A system under test, as the case runner drives it. */
export interface System {
  readonly writer: () => (payload: Uint8Array) => Promise<unknown>;
  /** Durable commits so far, or undefined when the system does not say. */
  readonly flushes: () => number | undefined;
  readonly close: () => Promise<void>;
}

// 64 MiB, pre-zeroed and flushed before the case: the disk-limit loops write into already
// allocated blocks, as Spool does (appending to a growing file measured 18-50% slower here).
export const PREALLOCATED_FILE_BYTE_SIZE = 64 * 1024 * 1024;

/** Where the next message goes in a preallocated file: on from the last, wrapping at the end. */
function cursor() {
  let offset = 0;
  return (byteSize: number): number => {
    const at = offset;
    offset = (offset + byteSize) % (PREALLOCATED_FILE_BYTE_SIZE - byteSize);
    return at;
  };
}

/** A pre-zeroed file of {@link PREALLOCATED_FILE_BYTE_SIZE}, flushed; returns its path. */
export async function preallocatedFile(dir: string, name: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.alloc(PREALLOCATED_FILE_BYTE_SIZE));
  const handle = await fs.open(file, "r+");
  await handle.datasync();
  await handle.close();
  return file;
}

async function preallocated(dir: string, name: string) {
  return fs.open(await preallocatedFile(dir, name), "r+");
}

/** One pwrite + fdatasync per message, concurrently from every writer. */
export async function fdatasyncPerMessage(dir: string): Promise<System> {
  const handle = await preallocated(dir, "fdatasync.bin");
  const next = cursor();
  let flushes = 0;
  return {
    writer: () => async (payload) => {
      const at = next(payload.byteLength);
      await handle.write(payload, 0, payload.byteLength, at);
      await handle.datasync();
      flushes += 1;
    },
    flushes: () => flushes,
    close: () => handle.close(),
  };
}

interface MmapIo {
  map(size: number, protection: number, flags: number, fd: number, offset?: number): Buffer;
  sync(buffer: Buffer, offset: number, size: number, blocking: boolean, invalidate: boolean): void;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
}

/** One copy into a shared map + msync(MS_SYNC) of its pages per message. */
export async function msyncPerMessage(dir: string): Promise<System> {
  const mmap = createRequire(import.meta.url)("@riaskov/mmap-io") as MmapIo;
  const handle = await preallocated(dir, "msync.bin");
  const map = mmap.map(
    PREALLOCATED_FILE_BYTE_SIZE,
    mmap.PROT_READ | mmap.PROT_WRITE,
    mmap.MAP_SHARED,
    handle.fd,
  );
  const page = 4096;
  const next = cursor();
  let flushes = 0;
  return {
    writer: () => async (payload) => {
      const at = next(payload.byteLength);
      map.set(payload, at);
      // msync takes page-aligned ranges: round the start down and the end up.
      const from = Math.floor(at / page) * page;
      const to = Math.ceil((at + payload.byteLength) / page) * page;
      mmap.sync(map, from, to - from, true, false);
      flushes += 1;
    },
    flushes: () => flushes,
    close: () => handle.close(),
  };
}

/**
 * lmdb-js 3 with its defaults (`overlappingSync` on Linux, no `noSync`): puts are batched into
 * transactions on a worker thread; a put counts as durable once `db.flushed` resolves after it.
 */
export async function lmdb(dir: string): Promise<System> {
  const db = openLmdb<Uint8Array, number>({ path: path.join(dir, "lmdb"), encoding: "binary" });
  let key = 0;
  return {
    writer: () => async (payload) => {
      key += 1;
      await db.put(key, payload);
      await db.flushed;
    },
    flushes: () => undefined,
    close: () => db.close(),
  };
}

/** better-sqlite3 on `dir`/queue.sqlite in WAL mode with synchronous=FULL. */
export function openSqliteDatabase(dir: string): Database.Database {
  mkdirSync(dir, { recursive: true });
  const db = new Database(path.join(dir, "queue.sqlite"));
  db.pragma("journal_mode = WAL");
  // FULL: every commit fsyncs the WAL, so a committed row survives a power cut.
  db.pragma("synchronous = FULL");
  return db;
}

function openSqlite(dir: string) {
  const db = openSqliteDatabase(dir);
  db.exec("CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)");
  return { db, insert: db.prepare("INSERT INTO queue (payload) VALUES (?)") };
}

/** better-sqlite3 12, WAL, synchronous=FULL, one transaction (one fsync) per message. */
export async function sqlitePerMessage(dir: string): Promise<System> {
  const { db, insert } = openSqlite(dir);
  let flushes = 0;
  return {
    writer: () => async (payload) => {
      insert.run(payload);
      flushes += 1;
    },
    flushes: () => flushes,
    close: async () => {
      db.close();
    },
  };
}

interface Waiting<Item, Result> {
  readonly item: Item;
  readonly resolve: (result: Result) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Gathers what callers submit until the next macrotask, then commits it all with `commit` in
 * one go (group commit): each caller's promise settles after that commit, with its item's
 * result (`commit` returns one per item, in order, or none when `Result` is void).
 *
 * @example
 * const tick = perTick<Uint8Array>((payloads) => {
 *   insertAll(payloads);
 *   return [];
 * });
 * await tick.submit(payload);
 */
export function perTick<Item, Result = void>(
  commit: (items: readonly Item[]) => Promise<readonly Result[]> | readonly Result[],
) {
  let pending: Waiting<Item, Result>[] = [];
  let scheduled = false;
  let flushes = 0;
  const run = async () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    try {
      const results = await commit(batch.map((waiting) => waiting.item));
      flushes += 1;
      // Absent when Result is void: each caller then gets undefined.
      for (const [index, waiting] of batch.entries()) waiting.resolve(results[index] as Result);
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
  };
  return {
    submit: (item: Item) =>
      new Promise<Result>((resolve, reject) => {
        pending.push({ item, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(run);
        }
      }),
    flushes: () => flushes,
  };
}

/** better-sqlite3 12, WAL, synchronous=FULL, every insert pending in a tick in one transaction. */
export async function sqlitePerTick(dir: string): Promise<System> {
  const { db, insert } = openSqlite(dir);
  const insertAll = db.transaction((payloads: readonly Uint8Array[]) => {
    for (const payload of payloads) insert.run(payload);
  });
  const tick = perTick<Uint8Array>((payloads) => {
    insertAll(payloads);
    return [];
  });
  return {
    writer: () => tick.submit,
    flushes: tick.flushes,
    close: async () => {
      db.close();
    },
  };
}

const keyOf = (n: number) => String(n).padStart(16, "0");

/** classic-level 3 (LevelDB), one `put` with `sync: true` per message. */
export async function levelPerMessage(dir: string): Promise<System> {
  const db = new ClassicLevel<string, Uint8Array>(path.join(dir, "level"), {
    valueEncoding: "view",
  });
  await db.open();
  let key = 0;
  let flushes = 0;
  return {
    writer: () => async (payload) => {
      key += 1;
      await db.put(keyOf(key), payload, { sync: true });
      flushes += 1;
    },
    flushes: () => flushes,
    close: () => db.close(),
  };
}

/** classic-level 3, every put pending in a tick in one `batch` with `sync: true`. */
export async function levelPerTick(dir: string): Promise<System> {
  const db = new ClassicLevel<string, Uint8Array>(path.join(dir, "level"), {
    valueEncoding: "view",
  });
  await db.open();
  let key = 0;
  const tick = perTick<Uint8Array>(async (payloads) => {
    const operations = payloads.map((value) => {
      key += 1;
      return { type: "put" as const, key: keyOf(key), value };
    });
    await db.batch(operations, { sync: true });
    return [];
  });
  return { writer: () => tick.submit, flushes: tick.flushes, close: () => db.close() };
}
