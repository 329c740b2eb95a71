/**
 * A gateway in a process of its own (`processes/gateway.ts`), optionally under a descriptor
 * limit, for the tests that attack it: its open descriptors and its memory are its own, and
 * the attackers' sockets do not count against it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { GatewayOptions } from "../src/Gateway.js";

const script = new URL("./processes/gateway.ts", import.meta.url).pathname;

/** prlimit(1) runs a command under a resource limit: it execs it, so the pid is the gateway's. */
const PRLIMIT = "/usr/bin/prlimit";

/** A running gateway process. */
export interface GatewayProcess {
  readonly child: ChildProcess;
  /** The gateway's process id (prlimit execs it: the same process). */
  readonly pid: number;
  readonly url: string;
  /** Metrics and the live page (loopback). */
  readonly adminUrl: string;
  /** The open-connection cap in force: the configured one, lowered to fit the descriptors. */
  readonly openCountMax: number;
  /** Resolves with the exit code (null when killed). */
  readonly exited: Promise<number | null>;
}

/** What the gateway process is started with. */
export interface GatewayProcessOptions {
  readonly dir: string;
  readonly recipientUrl: string;
  readonly reportUrl: string;
  /** Its soft and hard RLIMIT_NOFILE; the parent's limit when absent. */
  readonly descriptorLimit?: number;
  /** Spread over the script's options (JSON: no functions). */
  readonly options?: Partial<GatewayOptions>;
}

/** Starts a gateway process; resolves once it serves. */
export function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const node = [
    process.execPath,
    "--conditions=spool-source",
    "--import",
    "tsx",
    script,
    options.dir,
    options.recipientUrl,
    options.reportUrl,
  ];
  const limit = options.descriptorLimit;
  const [command, ...args] =
    limit === undefined ? node : [PRLIMIT, `--nofile=${limit}:${limit}`, ...node];
  const child = spawn(command!, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, GATEWAY_TEST_OPTIONS: JSON.stringify(options.options ?? {}) },
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (!text.includes("\n")) return;
      const served = JSON.parse(text.split("\n")[0]!) as {
        url: string;
        adminUrl: string;
        openCountMax: number;
        pid: number;
      };
      resolve({ child, exited, ...served });
    });
    child.on("exit", () => reject(new Error("the gateway exited before serving")));
  });
}

/** A line of /proc/<pid>/status in bytes (VmHWM: the peak resident set; VmRSS: the current). */
export function memoryBytes(pid: number, field: "VmHWM" | "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kibibytes = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1];
  if (kibibytes === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(kibibytes) * 1024;
}

/** The process's soft descriptor limit, as the kernel applies it. */
export function descriptorLimitOf(pid: number): number {
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8");
  const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
  if (soft === undefined) throw new Error(`no open-files limit in /proc/${pid}/limits`);
  return Number(soft);
}
