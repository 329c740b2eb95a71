/**
 * MessageIDs: this gateway's id, the message's seq in its spool, and a tag that binds the two to
 * the VASP that submitted it (HMAC-SHA-256 under a key only the gateway holds). Unique across
 * restarts and rebuilt spools; and a VASP can ask the state of its own messages only, since it
 * cannot make the tag of another's.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import * as path from "node:path";
import { writeFileDurably } from "./DurableFile.js";

export interface MessageIds {
  of(seq: number, vaspId: string): string;
  /** The seq a MessageID names, when it is this gateway's and the VASP's; else undefined. */
  seqOf(messageId: string, vaspId: string): number | undefined;
}

interface Identity {
  readonly id: string;
  readonly key: string;
}

/** The gateway's MessageIDs, its identity made once under `dir` and kept durably. */
export async function messageIds(dir: string): Promise<MessageIds> {
  const { id, key } = await identity(dir);
  const secret = Buffer.from(key, "hex");
  const tag = (seq: number, vaspId: string) =>
    createHmac("sha256", secret).update(`${vaspId}\n${seq}`).digest("hex").slice(0, 16);
  return {
    of: (seq, vaspId) => `${id}-${seq}-${tag(seq, vaspId)}`,
    seqOf: (messageId, vaspId) => {
      // The seq in its one decimal text: no leading zeros, no sign, at most 15 digits (always a
      // safe integer), so no two texts name the same message.
      const match = /^([0-9a-f]{8})-(0|[1-9]\d{0,14})-([0-9a-f]{16})$/.exec(messageId);
      if (match === null || match[1] !== id) return undefined;
      const seq = Number(match[2]);
      const expected = Buffer.from(tag(seq, vaspId));
      if (!timingSafeEqual(expected, Buffer.from(match[3]!))) return undefined;
      // The text is canonical when it is the one `of` gives; checked again, whatever the regex.
      return `${id}-${seq}-${match[3]}` === messageId ? seq : undefined;
    },
  };
}

/**
 * The identity in `gateway-identity.json`, or a new one written durably before any MessageID
 * using it is given out. Only a file that does not exist is made anew: any other failure to read
 * it (EMFILE, EACCES, EIO) rejects, since a new key would stop every MessageID given out from
 * verifying.
 */
async function identity(dir: string): Promise<Identity> {
  const file = path.join(dir, "gateway-identity.json");
  const known = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw new Error(`${file} cannot be read: ${error.message}`, { cause: error });
  });
  if (known !== undefined) return parsedIdentity(file, known);
  await mkdir(dir, { recursive: true });
  const made: Identity = {
    id: randomBytes(4).toString("hex"),
    key: randomBytes(32).toString("hex"),
  };
  await writeFileDurably(file, `${JSON.stringify(made)}\n`);
  return made;
}

/** The identity `text` holds: an object with an 8-hex-digit id and a 64-hex-digit key. */
function parsedIdentity(file: string, text: string): Identity {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  // A number or a string destructures to no fields, as an object without them does.
  const { id, key } = (parsed ?? {}) as Partial<Record<keyof Identity, unknown>>;
  const valid =
    typeof id === "string" &&
    /^[0-9a-f]{8}$/.test(id) &&
    typeof key === "string" &&
    /^[0-9a-f]{64}$/.test(key);
  if (!valid) throw new Error(`${file} is not a gateway identity`);
  return { id, key };
}
