export { fileAdapter } from "./FileAdapter.js";
export { MemoryDisk, memoryAdapter } from "./MemoryAdapter.js";
export { type MmapAdapterOptions, type MmapFlushMethod, mmapAdapter } from "./MmapAdapter.js";
