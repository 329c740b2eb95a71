/**
 * `npm run simulate -- --seeds N` (or `--seed S` for one): runs the power-cut simulator and
 * prints seeds, power cuts and acknowledged records checked; exits 1 with a reproducer on the
 * first broken invariant.
 */
import { InvariantBroken, simulate } from "./Simulate.js";

const args = process.argv.slice(2);
const flagValue = (flag: string) => {
  const at = args.indexOf(flag);
  return at >= 0 ? Number(args[at + 1]) : undefined;
};
const one = flagValue("--seed");
const count = flagValue("--seeds") ?? 1000;
const first = flagValue("--from") ?? 1;
const seeds = one === undefined ? Array.from({ length: count }, (_, i) => first + i) : [one];
let ackedAppends = 0;
let ackedAcks = 0;
let records = 0;
let writtenAhead = 0;
let splits = 0;
let recycled = 0;
const startedAt = performance.now();
for (const [index, seed] of seeds.entries()) {
  try {
    const result = await simulate(seed);
    ackedAppends += result.ackedAppends;
    ackedAcks += result.ackedAcks;
    records += result.recordsAfterCut;
    writtenAhead += result.writtenAhead;
    splits += result.splits;
    recycled += result.segmentsRecycled;
  } catch (error) {
    process.stderr.write(`\n${error instanceof InvariantBroken ? error.message : String(error)}\n`);
    process.exit(1);
  }
  if ((index + 1) % 100 === 0) process.stderr.write(`\r${index + 1}/${seeds.length} seeds`);
}
process.stderr.write("\n");
const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
process.stdout.write(
  `${seeds.length} seeds, ${seeds.length} power cuts, ${ackedAppends} acknowledged appends and ` +
    `${ackedAcks} acknowledged acks checked, ${records} records read back, ${writtenAhead} ` +
    `batches written ahead of another's flush and ${splits} split in two, ${recycled} segments ` +
    `recycled, in ${seconds} s: ok\n`,
);
