// Differential test: random RV64GC sequences run on QEMU (the oracle) and on Typervisor, and the
// register files, fcsr, scratch memory and traps they leave behind must match.
//
// Quick set (npm test): a few fixed seeds plus one seed derived from today's date, so coverage
// grows from day to day while every failure stays reproducible from the printed seed.
// Soak (TYPERVISOR_DIFF_SOAK=1, optionally TYPERVISOR_DIFF_SOAK_MINUTES): fresh seeds until
// the time budget is used up.
// TYPERVISOR_DIFF_SEED=<seed> runs one extra batch with that seed (for reproducing a soak find).

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { directedSequences } from './directed.js';
import { generateSequence, type Sequence } from './generator.js';
import {
  BUILD_DIR,
  checkTools,
  formatMismatch,
  type Mismatch,
  runBatch,
  runQemu,
  typervisorAvailable,
} from './harness.js';
import { KNOWN_ISSUES, knownIssueOf } from './known-issues.js';

interface BatchSpec {
  seed: string;
  count: number;
  length: number;
  /** Fixed sequences instead of generated ones. */
  sequences?: () => Sequence[];
  /** Delete the built files when the batch passes. */
  discardIfClean?: boolean;
}

const SOAK = process.env.TYPERVISOR_DIFF_SOAK === '1';
const CI = Boolean(process.env.CI);

const today = new Date().toISOString().slice(0, 10);
const QUICK: BatchSpec[] = [
  { seed: 'directed', count: 0, length: 0, sequences: directedSequences },
  { seed: 'fixed-1', count: 100, length: 24 },
  { seed: 'fixed-2', count: 100, length: 32 },
  { seed: 'fixed-3', count: 100, length: 40 },
  { seed: `date-${today}`, count: 150, length: 32 },
];
if (process.env.TYPERVISOR_DIFF_SEED) {
  QUICK.push({ seed: process.env.TYPERVISOR_DIFF_SEED, count: 150, length: 40 });
}

function sequencesOf(spec: BatchSpec): Sequence[] {
  if (spec.sequences) return spec.sequences();
  const out: Sequence[] = [];
  for (let i = 0; i < spec.count; i++) out.push(generateSequence(spec.seed, i, { length: spec.length }));
  return out;
}

function replayHint(spec: BatchSpec, m: Mismatch): string {
  if (spec.sequences)
    return `node dist/test/diff/replay.js --directed '${m.seq.id.replace(/^directed:/, '')}'`;
  const index = m.seq.id.slice(m.seq.id.lastIndexOf('#') + 1);
  return (
    `node dist/test/diff/replay.js --seed '${spec.seed}' --index ${index} --length ${spec.length} ` +
    `--count ${spec.count} --shrink`
  );
}

interface RunSummary {
  problems: string[];
  /** Mismatches explained by a KNOWN_ISSUES entry, by issue id. */
  known: Map<string, string[]>;
  insns: number;
}

/** Runs batches two at a time; returns a readable report of everything that went wrong. */
async function runAll(specs: BatchSpec[], log: (msg: string) => void): Promise<RunSummary> {
  const problems: string[] = [];
  const known = new Map<string, string[]>();
  let insns = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < specs.length) {
      const spec = specs[next++];
      const seqs = sequencesOf(spec);
      for (const s of seqs) insns += s.items.filter((i) => !i.label).length;
      const started = Date.now();
      const r = await runBatch(seqs, spec.seed, { typervisor: true });
      log(
        `seed ${spec.seed}: ${seqs.length} sequences, ${r.mismatches.length} mismatching, ` +
          `qemu ${r.qemuMs} ms, typervisor ${r.typervisorMs} ms, total ${Date.now() - started} ms`,
      );
      for (const f of r.failures) problems.push(`seed ${spec.seed}: ${f}`);
      if (spec.discardIfClean && r.failures.length === 0 && r.mismatches.length === 0) {
        // Soak ELFs are never reused; keep only those that show a problem.
        rmSync(r.elf, { force: true });
        rmSync(r.elf.replace(/\.elf$/, '.S'), { force: true });
      }
      for (const m of r.mismatches) {
        const issue = knownIssueOf(m);
        if (issue) {
          const list = known.get(issue.id) ?? [];
          list.push(m.seq.id);
          known.set(issue.id, list);
        } else {
          problems.push(formatMismatch(m, replayHint(spec, m)));
        }
      }
    }
  };
  await Promise.all([worker(), worker()]);
  return { problems, known, insns };
}

function reportKnown(known: Map<string, string[]>, log: (msg: string) => void): void {
  for (const [id, seqs] of known) {
    const issue = KNOWN_ISSUES.find((k) => k.id === id);
    log(`known Typervisor issue ${id} (${issue?.description}) seen in: ${seqs.join(', ')}`);
  }
}

function report(problems: string[], name: string): string {
  const file = path.join(BUILD_DIR, `${name}-report.txt`);
  writeFileSync(file, `${problems.join('\n\n')}\n`);
  const shown = problems.slice(0, 3).join('\n\n');
  return `${problems.length} problem(s); full report in ${file}\n\n${shown}`;
}

const tools = checkTools();
const skipReason = !tools.ok
  ? `missing ${tools.missing.join(', ')} (Debian: apt-get install qemu-system-misc gcc-riscv64-unknown-elf)`
  : !typervisorAvailable()
    ? 'dist/src/cli/main.js is not built'
    : undefined;
// CI must never pass by skipping: there a missing tool is a failure.
const skip = skipReason && !CI ? `skipped: ${skipReason}` : false;

test('diff generator: QEMU runs every sequence, deterministically', {
  skip: !tools.ok && !CI ? skip : false,
}, async () => {
  assert.ok(tools.ok, `missing tools: ${tools.missing.join(', ')}`);
  const spec = { seed: 'selfcheck', count: 40, length: 32 };
  const seqs = sequencesOf(spec);
  const r = await runBatch(seqs, spec.seed, { typervisor: false });
  assert.deepEqual(r.failures, []);
  const again = await runQemu(r.elf);
  const first = await runQemu(r.elf);
  assert.equal(again.stdout, first.stdout, 'QEMU output differs between two runs of the same ELF');
  let traps = 0;
  for (const res of r.qemu.results.values()) traps += res.trapCount;
  assert.ok(traps > 0, 'no sequence trapped: the trap categories are not being exercised');
});

test('differential test against QEMU: quick set', { skip, timeout: 15 * 60_000 }, async (t) => {
  assert.equal(skipReason, undefined, `cannot run the differential test in CI: ${skipReason}`);
  t.diagnostic(`seeds: ${QUICK.map((s) => s.seed).join(', ')}`);
  const started = Date.now();
  const { problems, known, insns } = await runAll(QUICK, (m) => t.diagnostic(m));
  t.diagnostic(`${insns} instruction items in ${Date.now() - started} ms`);
  reportKnown(known, (m) => t.diagnostic(m));
  if (problems.length > 0) assert.fail(report(problems, 'quick'));
});

// One todo test per known issue: it reports whether the directed reproducer still mismatches,
// and starts passing once the bug is fixed (then delete the entry in known-issues.ts).
for (const issue of KNOWN_ISSUES) {
  test(`known Typervisor issue ${issue.id}`, { skip, todo: issue.description }, async () => {
    const seqs = directedSequences().filter((d) => issue.directed.includes(d.id.replace(/^directed:/, '')));
    const r = await runBatch(seqs, `known-${issue.id}`, { typervisor: true });
    assert.deepEqual(r.failures, []);
    assert.deepEqual(
      r.mismatches.map((m) => m.seq.id),
      [],
      `still reproduces: ${issue.description}`,
    );
  });
}

test('differential test against QEMU: soak', {
  skip: SOAK ? skip : 'set TYPERVISOR_DIFF_SOAK=1 to run',
  timeout: 4 * 60 * 60_000,
}, async (t) => {
  assert.equal(skipReason, undefined, `cannot run the differential test in CI: ${skipReason}`);
  const minutes = Number(process.env.TYPERVISOR_DIFF_SOAK_MINUTES ?? 10);
  const deadline = Date.now() + minutes * 60_000;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const problems: string[] = [];
  let insns = 0;
  let batch = 0;
  // Rounds of a few batches each, until the time budget is spent.
  while (Date.now() < deadline) {
    const specs: BatchSpec[] = [];
    for (let i = 0; i < 4; i++)
      specs.push({ seed: `soak-${stamp}-${batch++}`, count: 150, length: 40, discardIfClean: true });
    const r = await runAll(specs, (m) => t.diagnostic(m));
    problems.push(...r.problems);
    reportKnown(r.known, (m) => t.diagnostic(m));
    insns += r.insns;
  }
  t.diagnostic(`soak: ${batch} batches, ${insns} instruction items, ${problems.length} problems`);
  if (problems.length > 0) assert.fail(report(problems, `soak-${stamp}`));
});
