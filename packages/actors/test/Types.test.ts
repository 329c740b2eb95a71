import type {
  AppendError,
  ClusterUnavailable,
  Durability,
  FlushFailed,
  InvalidArgument,
  NotLeased,
  OpenError,
  Seq,
  SpoolClosed,
  SpoolCorrupt,
  SpoolFailed,
  SpoolOverloaded,
  StorageFailed,
} from "@spool/core";
import { Effect, type Fiber, type Layer, type Option, type Scope, type Stream } from "effect";
import { describe, expectTypeOf, it } from "vitest";
import {
  type AppendResult,
  type Lease,
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

  it("the Spool service names each operation's errors, and no more", () => {
    type Service = SpoolEffect.SpoolService;
    type EntryWrite = SpoolClosed | SpoolFailed | FlushFailed | StorageFailed | SpoolOverloaded;
    expectTypeOf<Effect.Error<ReturnType<Service["append"]>>>().toEqualTypeOf<AppendError>();
    expectTypeOf<Effect.Error<ReturnType<Service["take"]>>>().toEqualTypeOf<
      InvalidArgument | SpoolCorrupt | ClusterUnavailable | EntryWrite
    >();
    expectTypeOf<Effect.Success<ReturnType<Service["take"]>>>().toEqualTypeOf<
      Option.Option<Lease>
    >();
    expectTypeOf<Effect.Error<ReturnType<Service["ack"]>>>().toEqualTypeOf<
      InvalidArgument | NotLeased | ClusterUnavailable | EntryWrite
    >();
    expectTypeOf<Effect.Error<ReturnType<Service["nack"]>>>().toEqualTypeOf<SpoolEffect.AckError>();
    expectTypeOf<
      Effect.Error<ReturnType<Service["purgeDeadLetter"]>>
    >().toEqualTypeOf<SpoolEffect.AckError>();
    expectTypeOf<Effect.Error<Service["deadLetters"]>>().toEqualTypeOf<
      StorageFailed | SpoolCorrupt | ClusterUnavailable
    >();
    expectTypeOf<Effect.Error<Service["depth"]>>().toEqualTypeOf<ClusterUnavailable>();
    expectTypeOf<Effect.Error<Service["stats"]>>().toEqualTypeOf<never>();
    expectTypeOf<Stream.Error<ReturnType<Service["records"]>>>().toEqualTypeOf<
      InvalidArgument | StorageFailed | SpoolCorrupt | ClusterUnavailable
    >();
    expectTypeOf<
      Stream.Error<ReturnType<Service["consume"]>>
    >().toEqualTypeOf<SpoolEffect.TakeError>();
  });

  it("the layers carry their errors, and forkConsumer its scope and handler's requirements", () => {
    expectTypeOf(SpoolEffect.layer).returns.toEqualTypeOf<
      Layer.Layer<SpoolEffect.Spool, OpenError>
    >();
    expectTypeOf(SpoolEffect.layerFromStore).returns.toEqualTypeOf<
      Layer.Layer<SpoolEffect.Spool, InvalidArgument>
    >();
    const fork = SpoolEffect.forkConsumer((_lease: Lease) => Effect.fail(new Error("busy")));
    expectTypeOf(fork).toEqualTypeOf<
      Effect.Effect<
        Fiber.Fiber<void, SpoolEffect.ConsumerError>,
        InvalidArgument,
        SpoolEffect.Spool | Scope.Scope
      >
    >();
    expectTypeOf<SpoolEffect.ConsumerError>().toEqualTypeOf<
      SpoolEffect.TakeError | Exclude<SpoolEffect.AckError, NotLeased>
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
