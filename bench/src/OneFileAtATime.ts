/**
 * A bench adapter: the file adapter with the data file's and the index file's writes and
 * flushes taken one at a time (the `spool-consume-one-file-at-a-time` rows).
 */
import { delegatingAdapter, fileAdapter } from "@spool/adapters";
import type { AdapterFactory } from "@spool/core";

/**
 * The file adapter with every write and flush of the data file and the index file taken one
 * at a time, as if one synchronizer served both files: the design Spool did not take, measured
 * against the one it did (a synchronizer per file).
 */
export function oneFileAtATime(): AdapterFactory {
  const inner = fileAdapter();
  let turn: Promise<unknown> = Promise.resolve();
  const serialized = <T>(run: () => Promise<T>): Promise<T> => {
    const result = turn.then(run);
    turn = result.catch(() => undefined);
    return result;
  };
  return async (options) => {
    const adapter = await inner(options);
    return delegatingAdapter(adapter, {
      name: `${adapter.name}, one file at a time`,
      write: (region) => serialized(() => adapter.write(region)),
      flush: (region, mode) => serialized(() => adapter.flush(region, mode)),
    });
  };
}
