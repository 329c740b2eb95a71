import { seededRandom } from "@spool/adapters";
import { describe, expect, it } from "vitest";
import {
  type ReadRequest,
  RequestRingReader,
  RequestRingWriter,
  RingCorrupt,
  type RingRequest,
  requestRingBuffer,
} from "../src/internal/RequestRing.js";

const PAYLOAD_BYTE_SIZE_MAX = 1 << 20;

/** A request whose payload bytes say which request it is (so a misplaced byte shows). */
function request(id: number, byteSize: number): RingRequest {
  const payload = new Uint8Array(byteSize);
  for (let at = 0; at < byteSize; at++) payload[at] = (id * 31 + at) & 0xff;
  return { id, payload, durability: id % 3 === 0 ? "async" : "flushed" };
}

const plain = (requests: readonly ReadRequest[] | readonly RingRequest[]) =>
  requests.map(({ id, payload, durability }) => ({ id, durability, payload: [...payload] }));

/** Lets a wait for room (Atomics.waitAsync on the head) resolve. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("RequestRing: a writer thread's groups in shared memory", () => {
  it("carries groups across the ring's end again and again, every byte intact and in order", async () => {
    const seed = 20;
    const random = seededRandom(seed);
    const buffer = requestRingBuffer(256);
    const writer = new RequestRingWriter(buffer);
    const reader = new RequestRingReader(buffer, PAYLOAD_BYTE_SIZE_MAX);
    const sent: RingRequest[][] = [];
    const received: (readonly ReadRequest[])[] = [];
    let id = 1;
    for (let round = 0; round < 200; round++) {
      const group = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
        request(id++, Math.floor(random() * 60)),
      );
      sent.push(group);
      let receipted = false;
      writer.write(group, () => {
        receipted = true;
      });
      // The ring is read only now and then, so groups queue up and wrap at every offset.
      while (!receipted || random() < 0.5) {
        reader.read((requests) => received.push(requests));
        await turn();
        if (receipted) break;
      }
    }
    reader.read((requests) => received.push(requests));
    expect(received.map(plain), `seed ${seed}`).toEqual(sent.map(plain));
  });

  it("a request larger than the free space waits for room, and is handed on whole", async () => {
    const buffer = requestRingBuffer(256);
    const writer = new RequestRingWriter(buffer);
    const reader = new RequestRingReader(buffer, PAYLOAD_BYTE_SIZE_MAX);
    const big = request(7, 1000);
    let receipted = false;
    writer.write([big], () => {
      receipted = true;
    });
    // The ring took what fits: no receipt, and nothing whole to hand on yet.
    expect(receipted).toBe(false);
    const received: (readonly ReadRequest[])[] = [];
    reader.read((requests) => received.push(requests));
    expect(received).toEqual([]);
    while (!receipted) {
      await turn();
      reader.read((requests) => received.push(requests));
    }
    reader.read((requests) => received.push(requests));
    expect(received.map(plain)).toEqual([plain([big])]);
  });

  it("a group its writer never finished (the thread died mid-group) is never handed on", async () => {
    const buffer = requestRingBuffer(256);
    const writer = new RequestRingWriter(buffer);
    const reader = new RequestRingReader(buffer, PAYLOAD_BYTE_SIZE_MAX);
    const finished = [request(1, 40)];
    writer.write(finished, () => undefined);
    let receipted = false;
    writer.write([request(2, 10), request(3, 900)], () => {
      receipted = true;
    });
    const received: (readonly ReadRequest[])[] = [];
    reader.read((requests) => received.push(requests));
    await turn();
    reader.read((requests) => received.push(requests));
    // The writer is gone now: what it published of the second group stays unfinished.
    writer.close();
    await turn();
    reader.read((requests) => received.push(requests));
    expect(receipted).toBe(false);
    expect(received.map(plain)).toEqual([plain(finished)]);
  });

  it("refuses entries no writer writes: RingCorrupt, and nothing is handed on", () => {
    const buffer = requestRingBuffer(256);
    const reader = new RequestRingReader(buffer, PAYLOAD_BYTE_SIZE_MAX);
    const words = new Int32Array(buffer);
    const data = new DataView(buffer, 64);
    // A request entry outside any group, published.
    data.setUint32(0, 24, true);
    data.setUint32(4, 3, true);
    Atomics.store(words, 0, 24);
    const received: (readonly ReadRequest[])[] = [];
    expect(() => reader.read((requests) => received.push(requests))).toThrow(RingCorrupt);
    expect(received).toEqual([]);
  });

  it("refuses a group announcing more payload than the spool allows", () => {
    const buffer = requestRingBuffer(256);
    const reader = new RequestRingReader(buffer, 1024);
    const data = new DataView(buffer, 64);
    data.setUint32(0, 24, true);
    data.setUint32(4, 2, true);
    data.setUint32(8, 1, true);
    data.setFloat64(16, 2 ** 40, true);
    Atomics.store(new Int32Array(buffer), 0, 24);
    expect(() => reader.read(() => undefined)).toThrow(/payload bytes/);
  });
});
