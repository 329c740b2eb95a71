/**
 * The spool manifest (`spool.json`): every option that shapes the files, recorded when the
 * spool is created, so later opens, the CLI and the tools read the files as they were written.
 * An explicit option that disagrees with the manifest is {@link ConfigInvalid}: reading a
 * 64 KiB-segment spool as 64 MiB segments, or index segments of the wrong length, would fail
 * on the first read (or worse, find records at the wrong places).
 */
import {
  type AdapterFactory,
  ConfigInvalid,
  type FlushAdapter,
  MANIFEST_FILE_NAME,
  resolveConfig,
  type SpoolConfig,
  SpoolCorrupt,
  type SpoolOptions,
} from "@spool/core";
import { unflushedByteSizeMax } from "../synchronizer/UnflushedBound.js";

const MANIFEST_FORMAT = "spool";
/**
 * 2 since segment stamps (issue 20): a spool this version opened may hold stamped records and
 * recycled segments, which a version before them would misread (a stamped record's version
 * field fails its check, and it could cut the whole log as a torn tail); it refuses a manifest
 * of another version, so the first open by this version raises it, before any write.
 */
const MANIFEST_VERSION = 2;
/** The manifest versions this build reads: 1 is upgraded to 2 at the first open. */
const MANIFEST_VERSIONS_READ: readonly unknown[] = [1, MANIFEST_VERSION];

/**
 * The options that shape the files. `segmentByteSize` and `pageByteSize` set the data and
 * index segments' lengths and alignment; `indexSegmentEntries` sets the index segments' length
 * and which slot holds which seq. The others (batching, leases, budgets) only shape how the
 * files are written or used, and may change from one open to the next.
 */
export const FILE_SHAPING_OPTIONS = [
  "segmentByteSize",
  "pageByteSize",
  "indexSegmentEntries",
] as const;

/**
 * One of {@link FILE_SHAPING_OPTIONS}.
 *
 * @example
 * const option: FileShapingOption = "pageByteSize";
 */
export type FileShapingOption = (typeof FILE_SHAPING_OPTIONS)[number];

/**
 * What `spool.json` holds. A field is undefined only in a manifest written before it was
 * recorded (`indexSegmentEntries` before issue 17).
 *
 * @example
 * const manifest: Manifest = parseManifest(text);
 */
export interface Manifest extends Readonly<Partial<Pick<SpoolConfig, FileShapingOption>>> {
  readonly format: string;
  readonly version: number;
  /**
   * The most log bytes any open of this spool could leave unflushed at once
   * (UnflushedBound.ts): it depends on batching options that may change between opens, and
   * opening judges damage written under the options of earlier opens.
   */
  readonly unflushedByteSizeMax?: number;
}

/** Fields every manifest has held since version 1 was written. */
const ALWAYS_RECORDED: readonly FileShapingOption[] = ["segmentByteSize", "pageByteSize"];

/**
 * The manifest a new spool with this configuration records.
 *
 * @example
 * const text = manifestText(resolveConfig({ segmentByteSize: 65536 }));
 */
export function manifestText(
  config: SpoolConfig,
  unflushed: number = unflushedByteSizeMax(config),
): string {
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    segmentByteSize: config.segmentByteSize,
    pageByteSize: config.pageByteSize,
    indexSegmentEntries: config.indexSegmentEntries,
    unflushedByteSizeMax: unflushed,
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/**
 * Parses `spool.json`; throws {@link SpoolCorrupt} when it is not a manifest this build reads.
 *
 * @example
 * const manifest = parseManifest(await adapter.readManifest() ?? "");
 */
export function parseManifest(text: string): Manifest {
  const corrupt = (reason: string) =>
    new SpoolCorrupt({ file: MANIFEST_FILE_NAME, offset: 0, reason });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt("not JSON");
  }
  const manifest = parsed as Record<string, unknown> | null;
  if (manifest?.format !== MANIFEST_FORMAT) throw corrupt("not a spool manifest");
  if (!MANIFEST_VERSIONS_READ.includes(manifest.version)) {
    throw corrupt(
      `format version ${manifest.version} is not ${MANIFEST_VERSIONS_READ.join(" or ")}`,
    );
  }
  const shape: Partial<Record<FileShapingOption, number>> = {};
  for (const field of FILE_SHAPING_OPTIONS) {
    const value = manifest[field];
    if (value === undefined && !ALWAYS_RECORDED.includes(field)) continue;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
      throw corrupt(`${field} missing or not a positive integer`);
    }
    shape[field] = value;
  }
  const unflushed = manifest.unflushedByteSizeMax;
  if (unflushed !== undefined && (!Number.isSafeInteger(unflushed) || (unflushed as number) <= 0)) {
    throw corrupt("unflushedByteSizeMax not a positive integer");
  }
  return {
    format: MANIFEST_FORMAT,
    version: manifest.version as number,
    ...shape,
    ...(unflushed === undefined ? {} : { unflushedByteSizeMax: unflushed as number }),
  } as Manifest;
}

/**
 * The configuration a spool directory's files were made with: the manifest's file-shaping
 * options over `given`. Throws {@link ConfigInvalid} when `given` names one with another value.
 * A field an older manifest did not record comes from `given`, else from the default, which is
 * what that version used when the option was not given (65536 index entries a segment).
 *
 * @example
 * const config = configFromManifest(parseManifest(text), { leaseMs: 5000 }, "./spool-data");
 */
export function configFromManifest(
  manifest: Manifest,
  given: SpoolOptions,
  dir: string,
): SpoolConfig {
  for (const field of FILE_SHAPING_OPTIONS) {
    const recorded = manifest[field];
    if (recorded !== undefined && given[field] !== undefined && given[field] !== recorded) {
      throw new ConfigInvalid({
        field,
        message: `${field}: the spool in ${dir} was created with ${manifest[field]}, not ${given[field]}`,
      });
    }
  }
  const shape = Object.fromEntries(
    FILE_SHAPING_OPTIONS.filter((field) => manifest[field] !== undefined).map((field) => [
      field,
      manifest[field],
    ]),
  );
  return resolveConfig({ ...given, ...shape });
}

/**
 * Reads the manifest of the spool `adapter` opens, or writes one for `requested` when the
 * directory holds no spool yet; returns the configuration in force.
 *
 * @example
 * const config = await reconcileManifest(adapter, resolveConfig(options), options, dir);
 */
export async function reconcileManifest(
  adapter: FlushAdapter,
  requested: SpoolConfig,
  given: SpoolOptions,
  dir: string,
): Promise<SpoolConfig> {
  const text = await adapter.readManifest();
  if (text === null) {
    if ((await adapter.listSegments()).length > 0) {
      throw new SpoolCorrupt({
        file: MANIFEST_FILE_NAME,
        offset: 0,
        reason: `missing in ${dir}, which holds segments`,
      });
    }
    await adapter.writeManifest(manifestText(requested));
    return requested;
  }
  return configFromManifest(parseManifest(text), given, dir);
}

/**
 * The configuration recorded in the `spool.json` of an existing spool, read through `factory`
 * without taking the spool's lock (the operators' tools read a spool another process may hold).
 * Throws {@link SpoolCorrupt} when the directory holds no spool.
 *
 * @example
 * const config = await readRecordedConfig(fileAdapter(), "./spool-data");
 */
export async function readRecordedConfig(
  factory: AdapterFactory,
  dir: string,
): Promise<SpoolConfig> {
  return (await readRecordedManifest(factory, dir)).config;
}

/**
 * The configuration recorded in `spool.json` (as {@link readRecordedConfig}) and the bound on
 * unflushed bytes the damage rule uses ({@link recordedUnflushedByteSizeMax}).
 *
 * @example
 * const { config, unflushedByteSizeMax } = await readRecordedManifest(fileAdapter(), dir);
 */
export async function readRecordedManifest(
  factory: AdapterFactory,
  dir: string,
): Promise<{ readonly config: SpoolConfig; readonly unflushedByteSizeMax: number }> {
  // The probe only reads spool.json: any valid sizes do.
  const probe = await factory({ dir, segmentByteSize: 4096, pageByteSize: 4096, lock: false });
  let text: string | null;
  try {
    text = await probe.readManifest();
  } finally {
    await probe.close();
  }
  if (text === null) {
    throw new SpoolCorrupt({
      file: MANIFEST_FILE_NAME,
      offset: 0,
      reason: `${dir} holds no spool`,
    });
  }
  const manifest = parseManifest(text);
  const config = configFromManifest(manifest, {}, dir);
  return { config, unflushedByteSizeMax: recordedUnflushedByteSizeMax(manifest, config) };
}

/**
 * The bound on unflushed bytes that covers every write made so far: the one `spool.json`
 * records, or for a manifest older than the field, the bound of the default batching options
 * (`config` read from that manifest with no options given). A spool written with larger batches
 * before the field existed can then have a genuine tear refused as corruption: the safe way to
 * err, which `spool recover --salvage` repairs.
 *
 * @example
 * const bound = recordedUnflushedByteSizeMax(manifest, configFromManifest(manifest, {}, dir));
 */
export function recordedUnflushedByteSizeMax(manifest: Manifest, config: SpoolConfig): number {
  if (manifest.unflushedByteSizeMax !== undefined) return manifest.unflushedByteSizeMax;
  const shape = Object.fromEntries(FILE_SHAPING_OPTIONS.map((field) => [field, config[field]]));
  return unflushedByteSizeMax(resolveConfig(shape));
}

/**
 * Raises the bound `spool.json` records to cover writes under `config`, before any is made,
 * and a version 1 manifest to version 2 (stamped records follow); a no-op when it already does
 * both.
 *
 * @example
 * await recordUnflushedByteSizeMax(adapter, config);
 */
export async function recordUnflushedByteSizeMax(
  adapter: FlushAdapter,
  config: SpoolConfig,
): Promise<void> {
  const manifest = parseManifest((await adapter.readManifest()) ?? "");
  const recorded = recordedUnflushedByteSizeMax(manifest, config);
  const needed = unflushedByteSizeMax(config);
  const current = manifest.version === MANIFEST_VERSION;
  if (current && manifest.unflushedByteSizeMax !== undefined && recorded >= needed) return;
  await adapter.writeManifest(manifestText(config, Math.max(recorded, needed)));
}
