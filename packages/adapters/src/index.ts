export { delegatingAdapter } from "./DelegatingAdapter.js";
export { BLOCKING_FLUSH_PAUSE_MS, type FileAdapterOptions, fileAdapter } from "./FileAdapter.js";
export { createDirectory } from "./internal/Storage.js";
export { MemoryDisk, memoryAdapter, seededRandom } from "./MemoryAdapter.js";
export { type MmapAdapterOptions, type MmapFlushMethod, mmapAdapter } from "./MmapAdapter.js";
