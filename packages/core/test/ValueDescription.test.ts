import { describe, expect, it } from "vitest";
import { describeValue } from "../src/index.js";

describe("describeValue names any value without throwing", () => {
  it.each([
    [-1, "-1"],
    [Number.NaN, "NaN"],
    [10n, "10n"],
    [true, "true"],
    [undefined, "undefined"],
    [null, "null"],
    ["soon", '"soon"'],
    [[1, 2], "an array"],
    [{ byteLength: 4 }, "an object"],
    [new Map(), "an object (Map)"],
    [() => 1, "a function"],
  ])("describes %o as %s", (value, shown) => {
    expect(describeValue(value)).toBe(shown);
  });

  it("cuts a long string at 40 characters", () => {
    expect(describeValue("x".repeat(100))).toBe(JSON.stringify(`${"x".repeat(40)}…`));
  });

  it("describes a symbol, which String() would show but a template literal throws on", () => {
    expect(describeValue(Symbol("s"))).toBe("a symbol");
  });

  it("describes an object without a prototype, on which String() throws", () => {
    expect(describeValue(Object.create(null))).toBe("an object without a prototype");
  });

  it("describes a revoked Proxy, on which even Array.isArray throws", () => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    expect(describeValue(revocable.proxy)).toBe("an object that throws when inspected");
  });

  it("describes an object whose constructor getter throws", () => {
    const value = new Proxy(
      {},
      {
        getPrototypeOf: () => {
          throw new Error("trap");
        },
      },
    );
    expect(describeValue(value)).toBe("an object that throws when inspected");
  });
});
