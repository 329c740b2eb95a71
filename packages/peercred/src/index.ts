export { type PeerCredentials, peerCredentials } from "./PeerCredentials.js";
