// Runs inside an empty project that installed Spool's packed tarballs, with no monorepo around
// it: the published packages load (their addons built at install) and keep their promises.
// Prints one JSON line for test/PackedInstall.test.ts to check.
import { connectSocketWriter, openSpool, serveWriters } from "@spool/actors";
import { mmapAdapter } from "@spool/adapters";
import { crc32c } from "@spool/crc32c";
import { instrumentSpool } from "@spool/otel";

const [dir, mappedDir] = process.argv.slice(2);
if (dir === undefined || mappedDir === undefined) {
  throw new Error("usage: node smoke.mjs SPOOL_DIR MAPPED_SPOOL_DIR");
}
const text = (bytes) => new TextDecoder().decode(bytes);

// The default (file) adapter, with a writer in this process and one over the writers' socket
// (which reads the peer's credentials through @spool/peercred).
const spool = await openSpool({ dir });
const writer = spool.writer("packed");
const first = await writer.append("first from a tarball");
const second = await writer.append("second from a tarball");
const server = await serveWriters(spool);
const remote = await connectSocketWriter(server.path);
const third = await remote.append("third, over the socket");
remote.close();
await server.close();
const lease = await spool.take();
if (lease === undefined) throw new Error("take() found nothing after three appends");
await spool.ack(lease.seq);
const states = [first.seq, second.seq, third.seq].map((seq) => spool.messageState(seq));
const depth = spool.depth();
await spool.close();

// The mmap adapter (@riaskov/mmap-io's addon), appended through a writer @spool/otel measures
// (on @opentelemetry/api with no SDK registered: no-op instruments), read back through records().
const mapped = await openSpool({ dir: mappedDir, adapter: mmapAdapter() });
const telemetry = instrumentSpool(mapped, { attributes: { "spool.name": "packed" } });
const measured = await telemetry.writer("mapped").append("through the map");
telemetry.dispose();
const mappedPayloads = [];
for await (const record of mapped.records({ from: 1 })) mappedPayloads.push(text(record.payload));
await mapped.close();

console.log(
  JSON.stringify({
    appended: [first.seq, second.seq, third.seq],
    durability: first.durability,
    taken: { seq: lease.seq, payload: text(lease.payload), attempt: lease.attempt },
    states,
    depth,
    mappedPayloads,
    measuredDurability: measured.durability,
    checkValue: crc32c(new TextEncoder().encode("123456789")),
  }),
);
