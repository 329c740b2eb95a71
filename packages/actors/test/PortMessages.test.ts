import {
  FlushFailed,
  InvalidArgument,
  InvalidPayload,
  RecordTooLarge,
  SpoolClosed,
  SpoolFailed,
  SpoolFull,
  SpoolOverloaded,
  SpoolUnreachable,
  StorageFailed,
} from "@spool/core";
import { describe, expect, it } from "vitest";
import { reviveError } from "../src/internal/PortMessages.js";

describe("an append error revived after crossing a port", () => {
  it.each([
    [FlushFailed, { dir: "/d", code: "EIO", reason: "flush" }],
    [StorageFailed, { dir: "/d", code: "EIO", reason: "write" }],
    [SpoolFailed, { dir: "/d", reason: "a bug" }],
    [RecordTooLarge, { byteSize: 9, byteSizeMax: 8 }],
    [SpoolOverloaded, { dir: "/d", reason: "full mailbox" }],
    [SpoolFull, { dir: "/d", byteSize: 1, diskBudgetBytes: 1 }],
    [SpoolUnreachable, { dir: "/d", reason: "gone" }],
    [SpoolClosed, { dir: "/d" }],
    [InvalidPayload, { reason: "not bytes" }],
    [InvalidArgument, { field: "durability", reason: "unknown" }],
  ] as const)("%o comes back as its own class with its fields", (errorClass, fields) => {
    const tag = new errorClass(fields as never)._tag;
    const revived = reviveError({ tag, fields: { ...fields, cause: "not across a port" } });
    expect(revived).toBeInstanceOf(errorClass);
    expect(revived._tag).toBe(tag);
    expect(revived).toMatchObject(fields);
  });

  it("the causes stay behind: an Error does not cross a port", () => {
    const revived = reviveError({ tag: "FlushFailed", fields: { dir: "/d", cause: "x" } });
    expect((revived as FlushFailed).cause).toBeUndefined();
  });

  it("a tag no append error carries leaves the append unconfirmed, never closed", () => {
    const revived = reviveError({ tag: "FromANewerSpool", fields: { dir: "/var/spool" } });
    expect(revived).toBeInstanceOf(SpoolUnreachable);
    expect(revived).toMatchObject({
      dir: "/var/spool",
      reason: "the spool answered with an unknown error: FromANewerSpool",
    });
  });
});
