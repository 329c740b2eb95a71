/**
 * The end-to-end peers: a queue a Node.js team would build on SQLite or on LMDB instead of
 * Spool, with the same promises as Spool's (an append resolves once durable, a take leases, an
 * ack resolves once durable). See EndToEnd.ts for the case that drives them.
 */
import * as path from "node:path";
import { open as openLmdb } from "lmdb";
import type { TakeAckQueue, Taken } from "./EndToEnd.js";
import { openSqliteDatabase, perTick } from "./Peers.js";

/** How long a claim is leased: Spool's default `leaseMs`, far longer than any case runs. */
const LEASE_MS = 30_000;

type Operation =
  | { readonly kind: "insert"; readonly payload: Uint8Array }
  | { readonly kind: "claim"; readonly countMax: number }
  | { readonly kind: "delete"; readonly seq: number };

/**
 * better-sqlite3 12, WAL, synchronous=FULL, a table as the queue. Everything callers ask for in
 * one tick (inserts, claims, deletes) is one transaction, so one WAL fsync (group commit, as
 * `sqlite-tx-per-tick`); each caller's promise resolves after that commit. A claim is
 * `UPDATE ... SET leased_until = ? WHERE seq IN (SELECT ... LIMIT n) RETURNING`, one statement
 * for all the tick's claims; an ack deletes its row. No index on `leased_until`: the table
 * holds at most the backlog (4,096 rows at 256×64), and a claim skips at most the rows the
 * consumers hold (1,024).
 */
export async function sqliteQueue(dir: string): Promise<TakeAckQueue> {
  const db = openSqliteDatabase(dir);
  db.exec(
    "CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, " +
      "leased_until INTEGER NOT NULL DEFAULT 0)",
  );
  const insert = db.prepare("INSERT INTO queue (payload) VALUES (?)");
  const remove = db.prepare("DELETE FROM queue WHERE seq = ?");
  const claim = db.prepare<[number, number, number], Taken>(
    "UPDATE queue SET leased_until = ? WHERE seq IN " +
      "(SELECT seq FROM queue WHERE leased_until <= ? ORDER BY seq LIMIT ?) RETURNING seq, payload",
  );
  const commit = db.transaction((operations: readonly Operation[]) => {
    let countMax = 0;
    for (const operation of operations) {
      if (operation.kind === "delete") remove.run(operation.seq);
      else if (operation.kind === "insert") insert.run(operation.payload);
      else countMax += operation.countMax;
    }
    const now = Date.now();
    // RETURNING gives rows in no promised order: oldest first, as the claims asked.
    const claimed = countMax === 0 ? [] : claim.all(now + LEASE_MS, now, countMax);
    claimed.sort((a, b) => a.seq - b.seq);
    let next = 0;
    return operations.map((operation) => {
      if (operation.kind !== "claim") return [];
      const share = claimed.slice(next, next + operation.countMax);
      next += share.length;
      return share;
    });
  });
  const tick = perTick<Operation, readonly Taken[]>((operations) => commit(operations));
  return {
    appender: () => (payload) => tick.submit({ kind: "insert", payload }),
    take: (countMax) => tick.submit({ kind: "claim", countMax }),
    ack: (seq) => tick.submit({ kind: "delete", seq }),
    close: async () => {
      db.close();
    },
  };
}

/**
 * lmdb-js 3 with its defaults, as `lmdb` appends: a put, then `db.flushed` (lmdb-js batches
 * both into its own transactions). A message is ready once its append is durable; leases are
 * kept in memory (as a process that restarts would rebuild them by reading the keys); an ack
 * is a remove, then `db.flushed`.
 */
export async function lmdbQueue(dir: string): Promise<TakeAckQueue> {
  const db = openLmdb<Uint8Array, number>({ path: path.join(dir, "lmdb"), encoding: "binary" });
  let lastKey = 0;
  const ready: number[] = [];
  const leased = new Set<number>();
  return {
    appender: () => async (payload) => {
      lastKey += 1;
      const key = lastKey;
      await db.put(key, payload);
      await db.flushed;
      ready.push(key);
    },
    take: async (countMax) =>
      ready.splice(0, countMax).map((seq) => {
        leased.add(seq);
        return { seq, payload: db.get(seq)! };
      }),
    ack: async (seq) => {
      if (!leased.delete(seq)) throw new Error(`lmdb queue: ${seq} is not leased`);
      await db.remove(seq);
      await db.flushed;
    },
    close: () => db.close(),
  };
}
