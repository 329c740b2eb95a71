import { describe, expect, it } from "vitest";
import { payloadBytes } from "../src/Payload.js";
import { InvalidPayload } from "../src/SpoolError.js";

describe("payloadBytes", () => {
  it("returns a Uint8Array as it is, with no copy", () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(payloadBytes(bytes)).toBe(bytes);
  });

  it("views the same memory as a Float64Array shows it, not a copy and not converted", () => {
    const floats = new Float64Array([1.5]);
    const bytes = payloadBytes(floats) as Uint8Array;
    expect(bytes.buffer).toBe(floats.buffer);
    expect(bytes.byteLength).toBe(8);
    floats[0] = 2;
    expect(new Float64Array(bytes.slice().buffer)[0]).toBe(2);
  });

  it("keeps a DataView's offset and length", () => {
    const buffer = new Uint8Array([0, 1, 2, 3, 4, 5]).buffer;
    expect(payloadBytes(new DataView(buffer, 1, 3))).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("takes all of an ArrayBuffer", () => {
    expect(payloadBytes(new Uint8Array([9, 9]).buffer)).toEqual(new Uint8Array([9, 9]));
  });

  it("encodes a string as UTF-8", () => {
    expect(payloadBytes("é")).toEqual(new Uint8Array([0xc3, 0xa9]));
  });

  it.each([
    [123, "123"],
    [null, "null"],
    [undefined, "undefined"],
    [[1, 2], "an array"],
    [{ byteLength: 4 }, "an object"],
    [new Map(), "an object (Map)"],
  ])("refuses %o, naming it (%s)", (value, received) => {
    const refused = payloadBytes(value);
    expect(refused).toBeInstanceOf(InvalidPayload);
    expect((refused as InvalidPayload).received).toBe(received);
  });
});
