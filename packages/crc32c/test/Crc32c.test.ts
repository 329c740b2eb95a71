import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { crc32c as oracle } from "@node-rs/crc32";
import { describe, expect, it } from "vitest";
import { crc32c, crc32cInHardware, sealRecords } from "../src/index.js";

/** Bytes from a small linear congruential generator: the same every run. */
function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

const HEADER = 40;

/** A window holding records with the given payload sizes, 8-aligned, checksum fields zero. */
function recordsWindow(payloadSizes: readonly number[], seed: number) {
  const starts = new Uint32Array(payloadSizes.length);
  let at = 0;
  for (const [i, size] of payloadSizes.entries()) {
    starts[i] = at;
    at += Math.ceil((HEADER + size) / 8) * 8;
  }
  const window = bytes(at, seed);
  const view = new DataView(window.buffer);
  for (const [i, size] of payloadSizes.entries()) {
    view.setUint32(starts[i]! + 8, size, true);
    view.setUint32(starts[i]! + 32, 0, true);
  }
  return { window, starts, view };
}

describe("crc32c", () => {
  it("gives the check value of the standard test string", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it("agrees with @node-rs/crc32 at every length up to 4 KiB and at odd offsets", () => {
    const source = bytes(4200, 7);
    for (let length = 0; length <= 4096; length++) {
      const offset = length % 13;
      const view = source.subarray(offset, offset + length);
      expect(crc32c(view)).toBe(oracle(view) >>> 0);
    }
  });

  it("continues from an earlier checksum as if the bytes were one range", () => {
    const source = bytes(3000, 11);
    for (const cut of [0, 1, 7, 8, 9, 1500, 2999, 3000]) {
      const first = crc32c(source.subarray(0, cut));
      expect(crc32c(source.subarray(cut), first)).toBe(crc32c(source));
    }
    expect(crc32c(source, 0x12345678)).toBe(oracle(source, 0x12345678) >>> 0);
  });

  it("refuses what is not a Uint8Array", () => {
    expect(() => crc32c("text" as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => crc32c(new Uint16Array(4) as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => crc32c(new Uint8Array(4), "1" as unknown as number)).toThrow(TypeError);
  });
});

describe("sealRecords", () => {
  it("writes each record's checksum of header and payload, three at a time and singly", () => {
    // Sizes of every residue mod 8 and unequal lengths within a group of three.
    const sizes = [1024, 0, 1, 7, 8, 9, 1023, 65536, 3, 100, 5000, 16, 1024, 1024];
    for (let count = 0; count <= sizes.length; count++) {
      const { window, starts, view } = recordsWindow(sizes, count + 1);
      const expected = [...starts].map(
        (start, i) => oracle(window.subarray(start, start + HEADER + sizes[i]!)) >>> 0,
      );
      sealRecords(window, starts, count);
      for (const [i, start] of starts.entries()) {
        expect(view.getUint32(start + 32, true)).toBe(i < count ? expected[i] : 0);
      }
    }
  });

  it("checks every record fits before writing any", () => {
    const { window, starts, view } = recordsWindow([16, 16, 16], 3);
    view.setUint32(starts[2]! + 8, 1 << 20, true);
    expect(() => sealRecords(window, starts, 3)).toThrow(RangeError);
    expect([0, 1, 2].map((i) => view.getUint32(starts[i]! + 32, true))).toEqual([0, 0, 0]);
    const beyond = new Uint32Array([window.byteLength - 8]);
    expect(() => sealRecords(window, beyond, 1)).toThrow(RangeError);
    expect(() => sealRecords(window, starts, 4)).toThrow(RangeError);
    expect(() => sealRecords(window, [0] as unknown as Uint32Array, 1)).toThrow(TypeError);
  });

  it("gives the same checksums through the table as through the CPU's instruction", () => {
    const script = `
      import { crc32c, crc32cInHardware, sealRecords } from "@spool/crc32c";
      const source = new Uint8Array(5000).map((_, i) => (i * 131 + 7) & 255);
      const sums = [];
      for (let n = 0; n <= 5000; n += 37) sums.push(crc32c(source.subarray(0, n)));
      const window = new Uint8Array(1064 * 4);
      const view = new DataView(window.buffer);
      const starts = new Uint32Array([0, 1064, 2128, 3192]);
      for (const s of starts) { window.fill(9, s, s + 1064); view.setUint32(s + 8, 1024, true); view.setUint32(s + 32, 0, true); }
      sealRecords(window, starts, 4);
      for (const s of starts) sums.push(view.getUint32(s + 32, true));
      console.log(JSON.stringify({ hardware: crc32cInHardware, sums }));`;
    const run = (env: NodeJS.ProcessEnv) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          // The sources, as in the rest of the tests (dist may not be built).
          ["--conditions=spool-source", "--import", "tsx", "--input-type=module", "-e", script],
          {
            cwd: fileURLToPath(new URL("..", import.meta.url)),
            env,
            encoding: "utf8",
          },
        ),
      ) as { hardware: boolean; sums: number[] };
    const table = run({ ...process.env, SPOOL_CRC32C_TABLE: "1" });
    const usual = run({ ...process.env, SPOOL_CRC32C_TABLE: "" });
    expect(table.hardware).toBe(false);
    expect(usual.hardware).toBe(crc32cInHardware);
    expect(table.sums).toEqual(usual.sums);
    expect(table.sums.length).toBe(Math.floor(5000 / 37) + 1 + 4);
  });
});
