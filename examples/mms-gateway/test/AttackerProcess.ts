/**
 * The attackers' process (`processes/attackers.ts`) seen from a test: loaded with a plan,
 * attacking on demand (ready once its connections are up), stopped on demand with its figures.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { AttackPlan, SiegeFigures } from "./Attackers.js";

const script = new URL("./processes/attackers.ts", import.meta.url).pathname;

/** A running attack in its own process. */
export interface AttackerProcess {
  readonly child: ChildProcess;
  /** Resolves once the process runs and waits for `attack`. */
  readonly loaded: Promise<void>;
  /** Starts the attack; resolves once every hostile connection's first attempt settled. */
  attack(): Promise<SiegeFigures>;
  /** Ends the attack (every hostile connection closes); resolves with its figures. */
  stop(): Promise<SiegeFigures>;
}

/** Starts the attackers' process with `plan`. */
export function startAttackers(plan: AttackPlan): AttackerProcess {
  const child = spawn(
    process.execPath,
    ["--conditions=spool-source", "--import", "tsx", script, JSON.stringify(plan)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines: Record<string, SiegeFigures | true>[] = [];
  const waiting: (() => void)[] = [];
  let text = "";
  let exited = false;
  child.stdout!.on("data", (chunk: Buffer) => {
    text += chunk.toString();
    const complete = text.split("\n");
    text = complete.pop()!;
    for (const line of complete) lines.push(JSON.parse(line) as (typeof lines)[number]);
    for (const wake of waiting.splice(0)) wake();
  });
  child.on("exit", () => {
    exited = true;
    for (const wake of waiting.splice(0)) wake();
  });
  const line = async (key: "loaded" | "ready" | "stopped"): Promise<SiegeFigures> => {
    for (;;) {
      const found = lines.find((candidate) => key in candidate)?.[key];
      if (found !== undefined) return found as SiegeFigures;
      if (exited) throw new Error(`the attackers' process exited before it said ${key}`);
      await new Promise<void>((wake) => waiting.push(wake));
    }
  };
  return {
    child,
    loaded: line("loaded").then(() => undefined),
    attack() {
      child.stdin!.write("start\n");
      return line("ready");
    },
    stop() {
      child.stdin!.end("stop\n");
      return line("stopped");
    },
  };
}
