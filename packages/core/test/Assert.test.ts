import { describe, expect, it } from "vitest";
import { assert, assertNever, InvariantViolation } from "../src/Assert.js";

describe("assert", () => {
  it("returns when the condition holds", () => {
    expect(() => assert(true, "never seen")).not.toThrow();
    expect(() => assert(1, "never seen")).not.toThrow();
  });

  it("throws an InvariantViolation carrying the message when the condition fails", () => {
    let thrown: unknown;
    try {
      assert(0, "synchronizer: no batch in flight");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvariantViolation);
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).toMatchObject({
      _tag: "InvariantViolation",
      name: "InvariantViolation",
      message: "synchronizer: no batch in flight",
    });
  });

  it("narrows the type of what it asserts", () => {
    const value: string | null = "x" as string | null;
    assert(value !== null, "a value");
    const narrowed: string = value;
    expect(narrowed).toBe("x");
  });
});

describe("assertNever", () => {
  it("throws an InvariantViolation naming what was unexpected and its value", () => {
    const mode = "sideways" as never;
    expect(() => assertNever(mode, "flush mode")).toThrow(InvariantViolation);
    expect(() => assertNever(mode, "flush mode")).toThrow('flush mode: unexpected "sideways"');
  });

  it("describes an object without a prototype rather than throwing while describing it", () => {
    const hostile = Object.create(null) as never;
    expect(() => assertNever(hostile, "event")).toThrow(
      "event: unexpected an object without a prototype",
    );
  });
});
