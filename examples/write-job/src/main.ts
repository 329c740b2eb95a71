/**
 * The raw write path (`npm run write-job`): W writers append M messages each into the embedded
 * spool under `./spool-data`, then it prints durable msgs/s and the flush figures, reopens the
 * spool and verifies every record this run appended, byte for byte.
 *
 * Environment: SPOOL_DIR (default ./spool-data), WRITERS (256), MESSAGES (400 per writer),
 * PAYLOAD_BYTES (1024), ADAPTER (file | mmap | msync).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { openSpool } from "@spool/actors";
import { fileAdapter, mmapAdapter } from "@spool/adapters";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const dir = path.resolve(root, process.env.SPOOL_DIR ?? "spool-data");

/** A whole number from the environment within [min, max], or the job stops saying which. */
function wholeNumberFromEnv(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  const value = text === undefined || text === "" ? fallback : Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name} must be a whole number from ${min} to ${max}, not ${text}`);
    process.exit(2);
  }
  return value;
}

/** Writers beyond this are a mistake, not a load: each holds a promise chain of its own. */
const WRITERS_MAX = 65_536;
const writers = wholeNumberFromEnv("WRITERS", 256, 1, WRITERS_MAX);
const messages = wholeNumberFromEnv("MESSAGES", 400, 1, 10_000_000);
// 32 bytes name the writer and index; the top is the spool's default recordPayloadByteSizeMax.
const payloadBytes = wholeNumberFromEnv("PAYLOAD_BYTES", 1024, 32, 8 << 20);
const adapterName = process.env.ADAPTER ?? "file";
if (!["file", "mmap", "msync"].includes(adapterName)) {
  console.error(`ADAPTER must be file, mmap or msync, not ${adapterName}`);
  process.exit(2);
}
const adapter =
  adapterName === "mmap"
    ? mmapAdapter()
    : adapterName === "msync"
      ? mmapAdapter({ flushMethod: "msync" })
      : fileAdapter();

/** A payload that names its writer and index, padded to the configured size. */
function payloadOf(writer: number, index: number): Uint8Array {
  const bytes = new Uint8Array(payloadBytes);
  bytes.set(new TextEncoder().encode(`writer=${writer} index=${index};`).subarray(0, payloadBytes));
  for (let i = 32; i < payloadBytes; i++) bytes[i] = (writer * 31 + index * 17 + i) & 0xff;
  return bytes;
}

const spool = await openSpool({ dir, adapter });
console.log(
  `spool ${dir} (${spool.stats().adapter}); opened after scanning ${spool.recovery.recordsScanned} records`,
);
const appended = new Map<number, [number, number]>();
const startedAt = performance.now();
await Promise.all(
  Array.from({ length: writers }, async (_, w) => {
    const writer = spool.writer(`job-${w}`);
    for (let i = 0; i < messages; i++) {
      const { seq } = await writer.append(payloadOf(w, i));
      appended.set(seq, [w, i]);
    }
  }),
);
const seconds = (performance.now() - startedAt) / 1000;
const stats = spool.stats();
await spool.close();

const total = writers * messages;
const reasons = Object.entries(stats.flushReasons)
  .filter(([, count]) => count > 0)
  .map(([reason, count]) => `${reason}=${count}`)
  .join(" ");
console.log(
  `${total} durable appends of ${payloadBytes} B from ${writers} writers in ${seconds.toFixed(2)} s`,
);
console.log(`durable msgs/s: ${Math.round(total / seconds)}`);
console.log(
  `flushes: ${stats.flushes} (${reasons}); mean batch ${stats.batchRecordsMean} records, max ${stats.batchRecordsMax}`,
);
console.log(
  `parked: ${stats.parked}, skipped: ${stats.skipped}, confirmations failed: ${stats.confirmationsFailed}`,
);

const reopened = await openSpool({ dir, adapter });
let verified = 0;
let mismatched = 0;
for await (const record of reopened.records()) {
  const origin = appended.get(record.seq);
  if (origin === undefined) continue;
  const expected = payloadOf(origin[0], origin[1]);
  const same =
    expected.length === record.payload.length &&
    expected.every((byte, i) => byte === record.payload[i]);
  if (same) verified += 1;
  else mismatched += 1;
}
await reopened.close();
console.log(`reopened and verified ${verified} of ${total} records byte-identical`);
if (verified !== total || mismatched > 0) {
  console.error(`VERIFY FAILED: ${total - verified} missing, ${mismatched} mismatched`);
  process.exit(1);
}
