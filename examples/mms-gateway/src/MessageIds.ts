/**
 * MessageIDs: this gateway's id, the message's seq in its spool, and a tag that binds the two to
 * the VASP that submitted it (HMAC-SHA-256 under a key only the gateway holds). Unique across
 * restarts and rebuilt spools; and a VASP can ask the state of its own messages only, since it
 * cannot make the tag of another's.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { link, mkdir, open, readFile, unlink } from "node:fs/promises";
import * as path from "node:path";

export interface MessageIds {
  of(seq: number, vaspId: string): string;
  /** The seq a MessageID names, when it is this gateway's and the VASP's; else undefined. */
  seqOf(messageId: string, vaspId: string): number | undefined;
}

interface Identity {
  readonly id: string;
  readonly key: string;
}

/**
 * The gateway's MessageIDs, its identity made once in `file` (`<dir>/gateway-identity.json`
 * by default) and kept durably. Gateways sharing a queue share the file.
 */
export async function messageIds(
  dir: string,
  file = path.join(dir, "gateway-identity.json"),
): Promise<MessageIds> {
  const { id, key } = await identity(file);
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
 * The identity in `file`, or a new one written durably before any MessageID using it is given
 * out. Only a file that does not exist is made anew: any other failure to read it (EMFILE,
 * EACCES, EIO) rejects, since a new key would stop every MessageID given out from verifying.
 */
async function identity(file: string): Promise<Identity> {
  const known = await readIdentity(file);
  if (known !== undefined) return known;
  await mkdir(path.dirname(file), { recursive: true });
  const made: Identity = {
    id: randomBytes(4).toString("hex"),
    key: randomBytes(32).toString("hex"),
  };
  // Written whole and flushed aside, then linked in place: link() fails when the file exists,
  // so of gateways sharing the file that start together, the first makes it and the others
  // read that one (a rename would let the last replace a key the first already gave out).
  // Named at random: two gateways in one process have one pid.
  const temporary = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(temporary, "w", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(made)}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await unlink(temporary);
  }
  await syncDirectory(path.dirname(file));
  const kept = await readIdentity(file);
  if (kept === undefined) throw new Error(`${file} vanished as it was made`);
  return kept;
}

/** The identity in `file`; undefined when there is no such file. */
async function readIdentity(file: string): Promise<Identity | undefined> {
  const known = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw new Error(`${file} cannot be read: ${error.message}`, { cause: error });
  });
  return known === undefined ? undefined : parsedIdentity(file, known);
}

/** Flushes a directory, so that a name linked into it survives a crash. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
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
