import { MemoryLog, testLogAdapter } from "../src/index.js";

// The log conformance suite against the in-memory reference log. @spool/jetstream runs it
// against a JetStream stream on a nats-server of its own (its test/JetStreamLogConformance).
await testLogAdapter("memory log", async () => {
  const log = new MemoryLog();
  return {
    log,
    read: async (at) => log.read(at),
    recordCount: async () => log.recordCount,
    refuseAppends: async () => log.refuse(),
    loseAcknowledgements: (count) => log.loseAcknowledgements(count),
    acknowledgementsLost: () => log.acknowledgementsLost,
  };
});
