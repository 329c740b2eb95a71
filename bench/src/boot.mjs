// Worker threads do not take `--import tsx` from execArgv: this plain module registers tsx in
// the worker, then loads the TypeScript entry named in workerData.entry.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
