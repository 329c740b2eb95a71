// Type-checked (never run) inside the empty project that installed Spool's packed tarballs:
// the `types` of each package's exports resolve to its shipped declarations, not to `any`.
import { type Lease, openSpool } from "@spool/actors";
import { mmapAdapter } from "@spool/adapters";
import { run } from "@spool/cli";
import type { Payload, SpoolFull } from "@spool/core";
import { crc32c } from "@spool/crc32c";
import { instrumentSpool } from "@spool/otel";

export async function typesResolve(dir: string): Promise<number> {
  const spool = await openSpool({ dir, adapter: mmapAdapter({ flushMethod: "msync" }) });
  const payload: Payload = "typed";
  const { seq } = await spool.writer("types").append(payload);
  const lease: Lease | undefined = await spool.take();
  // @ts-expect-error a number is not a payload: the declarations came through, not `any`.
  await spool.writer("types").append(42);
  // @ts-expect-error `openSpool` takes options, not a bare path.
  await openSpool(dir);
  const full: SpoolFull["_tag"] = "SpoolFull";
  const telemetry = instrumentSpool(spool, { attributes: { "spool.name": "types" } });
  // @ts-expect-error it measures a spool, not a directory's path.
  instrumentSpool(dir);
  telemetry.dispose();
  const { exitCode } = await run(["inspect", dir]);
  await spool.close();
  return seq + (lease?.attempt ?? 0) + crc32c(new Uint8Array([1])) + exitCode + full.length;
}
