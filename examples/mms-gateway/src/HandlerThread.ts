/**
 * A handler thread (`HandlerThreads.ts`): connects a writer over the port it was given, then
 * answers each submission it is handed with its seq (stored durably) or its fault.
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { connectWriter } from "@spool/actors";
import type { HandlerAnswer, HandlerReady, HandlerRequest } from "./HandlerThreads.js";
import type { GatewayLimits } from "./Limits.js";
import { acceptSubmission, Refused } from "./Submit.js";

const { port, limits } = workerData as { port: MessagePort; limits: GatewayLimits };
// Listening at once: submissions that come while the writer connects wait for it.
const connected = connectWriter(port);
const parent = parentPort!;

// Ready once the writer is connected: the gateway listens only when every thread is.
connected.then(
  () => parent.postMessage({ ready: true } satisfies HandlerReady),
  () => undefined,
);

parent.on("message", async (request: HandlerRequest) => {
  let answer: HandlerAnswer;
  try {
    const writer = await connected;
    const accepted = await acceptSubmission(request, limits, (record) => writer.append(record));
    answer = { id: request.id, ok: true, ...accepted };
  } catch (error) {
    const refused = error instanceof Refused ? error : undefined;
    answer = {
      id: request.id,
      ok: false,
      statusCode: refused?.fault.statusCode ?? 3000,
      message: refused?.fault.message ?? String(error),
      side: refused?.fault.side ?? "Server",
      namespace: refused?.namespace ?? "",
      transactionId: refused?.transactionId ?? "",
    };
  }
  parent.postMessage(answer);
});
