import type { AppendError, Durability, OpenError, Seq } from "@spool/core";
import type { Effect, Scope } from "effect";
import { describe, expectTypeOf, it } from "vitest";
import {
  type AppendResult,
  openSpool,
  type Spool,
  SpoolEffect,
  type Writer,
} from "../src/index.js";

describe("public types", () => {
  it("openSpool resolves to a Spool and append to an AppendResult", () => {
    expectTypeOf(openSpool).returns.resolves.toEqualTypeOf<Spool>();
    expectTypeOf<Writer["append"]>().returns.resolves.toEqualTypeOf<AppendResult>();
    expectTypeOf<AppendResult>().toEqualTypeOf<
      | { readonly seq: Seq; readonly durability: Durability }
      | { readonly seq: Seq; readonly durability: "replicated"; readonly replicas: number }
    >();
  });

  it("the Effect API keeps its typed errors and scope in the signature", () => {
    expectTypeOf(SpoolEffect.open).returns.toEqualTypeOf<
      Effect.Effect<Spool, OpenError, Scope.Scope>
    >();
    expectTypeOf(SpoolEffect.append).returns.toEqualTypeOf<
      Effect.Effect<AppendResult, AppendError>
    >();
  });

  it("rejects options of the wrong type at compile time", () => {
    const typed = () =>
      openSpool({
        dir: "x",
        // @ts-expect-error batchCountMax is a number or null
        batchCountMax: "many",
      });
    expectTypeOf(typed).returns.resolves.toEqualTypeOf<Spool>();
    // @ts-expect-error durability is "flushed" or "async"
    const append = (writer: Writer) => writer.append("x", { durability: "eventually" });
    expectTypeOf(append).toBeFunction();
  });
});
