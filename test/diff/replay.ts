// Replays one generated sequence on QEMU and Typervisor and, with --shrink, deletes instructions
// while the two still disagree, to leave a minimal reproducer.
//
//   node dist/test/diff/replay.js --seed fixed-1 --index 17 --length 24 --count 50 [--shrink] [--qemu-only]
//   node dist/test/diff/replay.js --directed illegal-straddle
//
// --seed/--index/--length/--count are printed by the test with every mismatch. --count (the
// batch size) lets the replay put the sequence at the same offset within its page as in the
// original batch, which matters for instructions that straddle a page boundary; --page-offset
// sets that offset directly.

import { parseArgs } from 'node:util';
import { directedSequences } from './directed.js';
import { generateSequence, type Item, type PrivMode, type Sequence } from './generator.js';
import {
  buildElf,
  checkTools,
  compareResults,
  type Difference,
  describeInit,
  describeMode,
  disassemble,
  formatTrap,
  runBatch,
  type SeqResult,
  symbolAddress,
  typervisorAvailable,
} from './harness.js';

function showResult(name: string, r: SeqResult | undefined): void {
  if (!r) {
    console.log(`${name}: no result`);
    return;
  }
  console.log(
    `${name}: fcsr=0x${r.fcsr.toString(16)} traps=${r.trapCount} ${r.traps.map(formatTrap).join(', ')}`,
  );
  if (r.abort) console.log(`  aborted: cause ${r.abort.cause} at offset ${r.abort.offset}`);
}

function showDiffs(diffs: Difference[]): void {
  if (diffs.length === 0) console.log('no differences');
  for (const d of diffs) console.log(`  ${d.what}: qemu=${d.qemu} typervisor=${d.typervisor}`);
}

/** Candidate reductions of a sequence: drop chunks of instruction items (labels stay). */
function candidates(seq: Sequence, limit: number): Sequence[] {
  const removable = seq.items.map((it, i) => (it.label ? -1 : i)).filter((i) => i >= 0);
  const out: Sequence[] = [];
  for (
    let size = Math.max(1, removable.length >> 1);
    size >= 1;
    size = size === 1 ? 0 : Math.max(1, size >> 1)
  ) {
    for (let start = 0; start < removable.length && out.length < limit; start += size) {
      const drop = new Set(removable.slice(start, start + size));
      const items: Item[] = seq.items.filter((_, i) => !drop.has(i));
      out.push({ ...seq, id: `${seq.id}-${out.length}`, items });
    }
    if (out.length >= limit) break;
  }
  return out;
}

async function shrink(seq: Sequence): Promise<Sequence> {
  let cur = seq;
  for (let round = 0; round < 100; round++) {
    const cands = candidates(cur, 96);
    if (cands.length === 0) break;
    const outcome = await runBatch(cands, `shrink-${round}`, { typervisor: true });
    const failing = outcome.mismatches.map((m) => cands[m.slot]);
    if (failing.length === 0) break;
    failing.sort((a, b) => a.items.length - b.items.length);
    cur = { ...failing[0], id: seq.id };
    const n = cur.items.filter((i) => !i.label).length;
    console.log(`shrink round ${round}: ${n} instruction items left`);
  }
  return cur;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      index: { type: 'string' },
      length: { type: 'string', default: '24' },
      count: { type: 'string' },
      'page-offset': { type: 'string' },
      directed: { type: 'string' },
      mode: { type: 'string' },
      shrink: { type: 'boolean', default: false },
      'qemu-only': { type: 'boolean', default: false },
    },
  });
  if (!values.directed && (!values.seed || values.index === undefined)) {
    console.error(
      'usage: replay.js --seed SEED --index N [--length L] [--count C] [--page-offset P] [--shrink] [--qemu-only]\n' +
        '       replay.js --directed NAME [--shrink] [--qemu-only]',
    );
    process.exit(2);
  }
  const tools = checkTools();
  if (!tools.ok) throw new Error(`missing tools: ${tools.missing.join(', ')}`);
  const withTv = !values['qemu-only'];
  if (withTv && !typervisorAvailable())
    throw new Error('dist/src/cli/main.js not built (npx tsc -p tsconfig.json)');

  const opts = { length: Number(values.length), mode: values.mode as PrivMode | undefined };
  let seq: Sequence;
  if (values.directed) {
    const found = directedSequences().find((d) => d.id === `directed:${values.directed}`);
    if (!found) throw new Error(`no directed sequence ${values.directed}`);
    seq = found;
  } else {
    seq = generateSequence(values.seed ?? '', Number(values.index), opts);
  }
  if (values.count !== undefined && !values.directed) {
    const batch: Sequence[] = [];
    for (let i = 0; i < Number(values.count); i++) batch.push(generateSequence(values.seed ?? '', i, opts));
    const { elf } = await buildElf(batch, values.seed ?? 'batch');
    const addr = symbolAddress(elf, `seq_${values.index}`);
    if (addr === undefined) throw new Error(`sequence ${values.index} not in the batch`);
    seq.pageOffset = Number(addr & 0xfffn);
    console.log(`original address 0x${addr.toString(16)} (page offset 0x${seq.pageOffset.toString(16)})`);
  }
  if (values['page-offset'] !== undefined) seq.pageOffset = Number(values['page-offset']);
  if (values.shrink && withTv) seq = await shrink(seq);

  const outcome = await runBatch([seq], 'replay', { typervisor: withTv, printMem: true });
  const { elf } = await buildElf([seq], 'replay', true);
  console.log(
    `${describeMode(seq)} sequence ${seq.id} at 0x${symbolAddress(elf, 'seq_0')?.toString(16)}; ELF ${elf}`,
  );
  console.log('initial state of the registers the sequence names:');
  console.log(describeInit(seq));
  console.log('listing:');
  console.log(disassemble(elf, 0));
  for (const f of outcome.failures) console.log(`failure: ${f}`);
  const q = outcome.qemu.results.get(0);
  const t = outcome.tv?.results.get(0);
  showResult('qemu', q);
  if (withTv) {
    showResult('typervisor', t);
    if (q && t) showDiffs(compareResults(q, t));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
