/**
 * The socket protocol's frame table, read out of `src/transports/SocketFrames.ts`'s documentation, and a
 * frame builder and reader that know nothing but that table. A client written from the
 * documentation is this module; the tests hold the code to it, so the two cannot drift.
 */
import { readFileSync } from "node:fs";

/** One field of a frame's body as the table writes it. */
export type Field =
  | { readonly kind: "scalar"; readonly name: string; readonly type: ScalarType }
  | { readonly kind: "literal"; readonly name: string; readonly text: string }
  | { readonly kind: "bytes"; readonly name: string; readonly sizeField: string }
  | { readonly kind: "group"; readonly fields: readonly Field[]; readonly countField: string };

type ScalarType = "u8" | "u16" | "u32" | "f64" | "str" | "json" | "durability";
const SCALAR_TYPES: readonly string[] = ["u8", "u16", "u32", "f64", "str", "json", "durability"];

/** One row of the table. */
export interface FrameLayout {
  readonly name: string;
  readonly type: number;
  readonly from: "writer" | "spool";
  readonly body: readonly Field[];
}

/** The table, the documented durability codes, and the documented opening of a session. */
export interface FrameTable {
  readonly frames: ReadonlyMap<string, FrameLayout>;
  readonly durabilityCodes: ReadonlyMap<string, number>;
  readonly opening: readonly string[];
}

const SOURCE = new URL("../src/transports/SocketFrames.ts", import.meta.url);

/** The fenced block of the module's first doc comment, without the comment's ` * `. */
function documentedBlock(): string[] {
  const text = readFileSync(SOURCE, "utf8");
  const comment = text.slice(text.indexOf("/**"), text.indexOf("*/"));
  const lines = comment.split("\n").map((line) => line.replace(/^\s*\* ?/, ""));
  const start = lines.indexOf("```");
  const end = lines.indexOf("```", start + 1);
  if (start < 0 || end < 0) throw new Error("SocketFrames.ts documents no frame table");
  return lines.slice(start + 1, end);
}

/** Reads the table out of the documentation; throws on a line it cannot read. */
export function readFrameTable(): FrameTable {
  const frames = new Map<string, FrameLayout>();
  let durabilityCodes = new Map<string, number>();
  let opening: string[] = [];
  const rows: string[] = [];
  for (const line of documentedBlock()) {
    if (line.trim() === "" || line.startsWith("name ")) continue;
    // A line that starts with blanks carries on the row above it.
    if (/^\s/.test(line)) rows[rows.length - 1] += ` ${line.trim()}`;
    else rows.push(line);
  }
  for (const row of rows) {
    const definition = /^(\w+)\s*=\s*(.*)$/.exec(row);
    if (definition?.[1] === "durability") {
      durabilityCodes = new Map(
        [...definition[2]!.matchAll(/(\d+) (\w+)/g)].map(([, code, name]) => [name!, +code!]),
      );
    } else if (definition?.[1] === "opening") {
      opening = definition[2]!
        .replace(/\(.*\)/, "")
        .trim()
        .split(/\s*→\s*/);
    } else if (definition === null) {
      const frame = /^(\w+)\s+(\d+)\s+(writer|spool)\s+(.*)$/.exec(row);
      if (frame === null) throw new Error(`cannot read the table's row: ${row}`);
      const [, name, type, from, body] = frame;
      frames.set(name!, {
        name: name!,
        type: Number(type),
        from: from as "writer" | "spool",
        body: body === "(empty)" ? [] : parseFields(tokens(body!)),
      });
    }
  }
  return { frames, durabilityCodes, opening };
}

/** Splits a body into fields, keeping a parenthesised group as one token. */
function tokens(body: string): string[] {
  const found: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of body) {
    if (char === "(") depth += 1;
    if (char === ")") depth -= 1;
    if (char === " " && depth === 0) {
      if (current !== "") found.push(current);
      current = "";
    } else current += char;
  }
  if (current !== "") found.push(current);
  return found;
}

function parseFields(parts: readonly string[]): Field[] {
  return parts.map((part): Field => {
    const group = /^\((.*)\)×(\w+)$/.exec(part);
    if (group !== null) {
      return { kind: "group", fields: parseFields(tokens(group[1]!)), countField: group[2]! };
    }
    const literal = /^(\w+):"(.*)"$/.exec(part);
    if (literal !== null) return { kind: "literal", name: literal[1]!, text: literal[2]! };
    const bytes = /^(\w+):u8×(\w+)$/.exec(part);
    if (bytes !== null) return { kind: "bytes", name: bytes[1]!, sizeField: bytes[2]! };
    const scalar = /^(\w+):(\w+)$/.exec(part);
    if (scalar === null || !SCALAR_TYPES.includes(scalar[2]!)) {
      throw new Error(`cannot read the field ${part}`);
    }
    return { kind: "scalar", name: scalar[1]!, type: scalar[2] as ScalarType };
  });
}

/** Field values by the table's names; a group's fields hold one value per repetition. */
export type FrameValues = Record<string, unknown>;

/** Builds the frame `name` from `values`, byte by byte as the table says. */
export function buildFrame(table: FrameTable, name: string, values: FrameValues): Buffer {
  const layout = table.frames.get(name);
  if (layout === undefined) throw new Error(`the table has no frame ${name}`);
  const parts: Buffer[] = [Buffer.from([layout.type])];
  const put = (fields: readonly Field[], value: (name: string) => unknown): void => {
    for (const field of fields) {
      if (field.kind === "group") {
        const count = Number(value(field.countField));
        for (let at = 0; at < count; at++) {
          put(field.fields, (inner) => (value(inner) as unknown[])[at]);
        }
      } else if (field.kind === "literal") parts.push(Buffer.from(field.text, "latin1"));
      else if (field.kind === "bytes") parts.push(Buffer.from(value(field.name) as Uint8Array));
      else parts.push(scalarBytes(table, field.type, value(field.name)));
    }
  };
  put(layout.body, (field) => {
    if (!(field in values)) throw new Error(`no value for ${name}.${field}`);
    return values[field];
  });
  const body = Buffer.concat(parts);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.byteLength);
  return Buffer.concat([length, body]);
}

function scalarBytes(table: FrameTable, type: ScalarType, value: unknown): Buffer {
  const bytes = Buffer.alloc(type === "f64" ? 8 : type === "u32" ? 4 : type === "u16" ? 2 : 1);
  switch (type) {
    case "u8":
      bytes.writeUInt8(Number(value));
      return bytes;
    case "u16":
      bytes.writeUInt16LE(Number(value));
      return bytes;
    case "u32":
      bytes.writeUInt32LE(Number(value));
      return bytes;
    case "f64":
      bytes.writeDoubleLE(Number(value));
      return bytes;
    case "durability":
      bytes.writeUInt8(table.durabilityCodes.get(String(value))!);
      return bytes;
    case "str":
    case "json": {
      const text = Buffer.from(type === "json" ? JSON.stringify(value) : String(value), "utf8");
      const size = Buffer.alloc(4);
      size.writeUInt32LE(text.byteLength);
      return Buffer.concat([size, text]);
    }
  }
}

/** Reads one frame's body (after its length) as the table says: its name and values. */
export function readFrame(table: FrameTable, body: Buffer): { name: string; values: FrameValues } {
  const layout = [...table.frames.values()].find((frame) => frame.type === body[0]);
  if (layout === undefined) throw new Error(`the table has no frame of type ${body[0]}`);
  let at = 1;
  const take = (byteSize: number): Buffer => {
    if (at + byteSize > body.byteLength) throw new Error(`${layout.name} is too short`);
    at += byteSize;
    return body.subarray(at - byteSize, at);
  };
  const get = (fields: readonly Field[], values: FrameValues): void => {
    for (const field of fields) {
      if (field.kind === "group") {
        const repeated = Array.from({ length: Number(values[field.countField]) }, () => {
          const one: FrameValues = {};
          get(field.fields, one);
          return one;
        });
        for (const inner of field.fields) {
          if (inner.kind !== "group") values[inner.name] = repeated.map((one) => one[inner.name]);
        }
      } else if (field.kind === "literal") values[field.name] = take(field.text.length).toString();
      else if (field.kind === "bytes") values[field.name] = take(Number(values[field.sizeField]));
      else values[field.name] = readScalar(table, field.type, take);
    }
  };
  const values: FrameValues = {};
  get(layout.body, values);
  if (at !== body.byteLength) throw new Error(`${layout.name} has trailing bytes`);
  return { name: layout.name, values };
}

function readScalar(table: FrameTable, type: ScalarType, take: (size: number) => Buffer): unknown {
  switch (type) {
    case "u8":
      return take(1).readUInt8();
    case "u16":
      return take(2).readUInt16LE();
    case "u32":
      return take(4).readUInt32LE();
    case "f64":
      return take(8).readDoubleLE();
    case "durability": {
      const code = take(1).readUInt8();
      return [...table.durabilityCodes].find(([, value]) => value === code)?.[0];
    }
    case "str":
    case "json": {
      const text = take(take(4).readUInt32LE()).toString("utf8");
      return type === "json" ? JSON.parse(text) : text;
    }
  }
}
