/**
 * `@spool/example-mirror-adapter`: a custom flush adapter that keeps a second copy of a spool
 * on another disk, and the check that compares the two copies.
 */
export { type MirrorAdapterOptions, mirrorAdapter } from "./MirrorAdapter.js";
export { type MirrorFinding, verifyMirror } from "./MirrorVerification.js";
