import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsCluster, startNatsCluster } from "@spool/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const NAMES = ["n1", "n2", "n3"];

describe("a cluster of three servers", () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
    nc = await connect({ servers: cluster.urls().split(",") });
  });

  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it("starts three named servers, each with its own process and directory", () => {
    const servers = cluster.servers;
    expect(servers.map((server) => server.name)).toEqual(NAMES);
    expect(new Set(servers.map((server) => server.pid)).size).toBe(3);
    expect(new Set(servers.map((server) => server.dir)).size).toBe(3);
    expect(servers.every((server) => server.state === "running")).toBe(true);
  });

  it("elects a new stream leader when the leader is killed, and takes it back", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "KILLED", subjects: ["killed.>"], num_replicas: 3 });
    const js = jetstream(nc);
    await js.publish("killed.before", "before");

    const leader = await cluster.waitForStreamLeader("KILLED");
    expect(NAMES).toContain(leader);
    await cluster.kill(leader);
    expect(cluster.servers.find((server) => server.name === leader)?.state).toBe("killed");

    const next = await cluster.waitForStreamLeader("KILLED", { not: leader });
    expect(next).not.toBe(leader);
    expect((await js.publish("killed.during", "during")).seq).toBe(2);

    await cluster.restart(leader);
    expect(cluster.servers.find((server) => server.name === leader)?.state).toBe("running");
    expect(NAMES).toContain(await cluster.waitForStreamLeader("KILLED"));
    expect((await jsm.streams.info("KILLED")).state.messages).toBe(2);
  });

  it("names a consumer's leader, and a new one while its leader is paused", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PAUSED", subjects: ["paused.>"], num_replicas: 3 });
    await jsm.consumers.add("PAUSED", { durable_name: "worker", ack_policy: AckPolicy.Explicit });

    const leader = await cluster.waitForConsumerLeader("PAUSED", "worker");
    cluster.pause(leader);
    const next = await cluster.waitForConsumerLeader("PAUSED", "worker", { not: leader });
    expect(next).not.toBe(leader);
    cluster.resume(leader);
    // The resumed server can still claim the leadership until it hears of the newer term (seen
    // for a few hundred milliseconds); the majority's answer wins meanwhile.
    expect(await cluster.waitForConsumerLeader("PAUSED", "worker")).toBe(next);
  });

  it("stops every server and removes their directories, twice without harm", async () => {
    await nc.close();
    const pids = cluster.servers.map((server) => server.pid!);
    await cluster.stop();
    await cluster.stop();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    for (const server of cluster.servers) expect(existsSync(server.dir)).toBe(false);
  });
});

describe("a standalone server", () => {
  it("leads its streams and consumers itself", async () => {
    const cluster = await startNatsCluster({ size: 1 });
    const nc = await connect({ servers: cluster.urls() });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "ALONE", subjects: ["alone.>"] });
      await jsm.consumers.add("ALONE", { durable_name: "worker", ack_policy: AckPolicy.Explicit });
      expect(await cluster.streamLeader("ALONE")).toBe("n1");
      expect(await cluster.consumerLeader("ALONE", "worker")).toBe("n1");
    } finally {
      await nc.close();
      await cluster.stop();
    }
  });

  it("fails with a clear error when nats-server is not on the PATH", async () => {
    const emptyDir = mkdtempSync(join(tmpdir(), "spool-no-nats-"));
    const path = process.env.PATH;
    process.env.PATH = emptyDir;
    try {
      await expect(startNatsCluster({ size: 1 })).rejects.toThrow(
        /nats-server not found on the PATH: install Debian's nats-server/,
      );
    } finally {
      process.env.PATH = path;
      rmSync(emptyDir, { recursive: true });
    }
  });
});
