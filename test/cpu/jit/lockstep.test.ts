/**
 * Lockstep: the same programs on the interpreter alone and on the compiled tier in its strict mode
 * (threshold 0: regions compiled for every pc reached, the interpreter only where the tier cannot),
 * with the whole architectural state compared after every batch. Batches have random sizes, mostly
 * small, so the comparisons fall at every kind of boundary: mid-block budget ends, traps, region exits.
 * The programs are the differential test's random sequences (ALU, M, A, F/D, compressed, loads and
 * stores, misaligned accesses, traps, CSRs, self-modifying code, in M, S and U mode, with Sv39), built
 * with riscv64-unknown-elf-gcc, plus the benchmark programs when they have been built.
 *
 * TYPERVISOR_JIT_SOAK=N runs N extra batches of fresh seeds (npm run test:soak sets it).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { JitOptions, JitStats } from '../../../src/cpu/jit/jit.js';
import { BareMetalMachine } from '../../../src/machine/baremetal-machine.js';
import { parseElf } from '../../../src/machine/elf.js';
import { generateSequence } from '../../diff/generator.js';
import { buildElf, checkTools, REPO_ROOT } from '../../diff/harness.js';
import { Rng } from '../../diff/prng.js';

const RAM = 64 * 2 ** 20;
const CI = Boolean(process.env.CI);
const SOAK = Number(process.env.TYPERVISOR_JIT_SOAK ?? 0);

interface Side {
  machine: BareMetalMachine;
  output: string;
  exit: number | null;
}

function side(file: string, jit: JitOptions | false): Side {
  const s: Side = { machine: null as unknown as BareMetalMachine, output: '', exit: null };
  s.machine = new BareMetalMachine(parseElf(readFileSync(file), file), file, {
    ramSize: RAM,
    maxInstructions: 1e12,
    host: {
      output: (fd, bytes) => {
        s.output += `${fd}:${Buffer.from(bytes).toString('latin1')}`;
      },
      exit: (code) => {
        s.exit = code;
      },
    },
    jit,
  });
  return s;
}

/** The first difference in architectural state, or null. */
function difference(a: Side, b: Side, withRam: boolean): string | null {
  const ha = a.machine.hart;
  const hb = b.machine.hart;
  if (ha.pc !== hb.pc) return `pc 0x${ha.pc.toString(16)} vs 0x${hb.pc.toString(16)}`;
  if (ha.priv !== hb.priv) return `privilege ${ha.priv} vs ${hb.priv}`;
  for (let r = 1; r < 32; r++) {
    if (ha.getRegister(r) !== hb.getRegister(r))
      return `x${r} 0x${ha.getRegister(r).toString(16)} vs 0x${hb.getRegister(r).toString(16)}`;
    if (ha.getFloatRegisterBits(r) !== hb.getFloatRegisterBits(r)) return `f${r} differs`;
  }
  if (ha.getFloatRegisterBits(0) !== hb.getFloatRegisterBits(0)) return 'f0 differs';
  for (let i = 0; i < ha.csr.length; i++) {
    if (ha.csr[i] !== hb.csr[i])
      return `CSR 0x${(i >> 1).toString(16)} word ${i & 1}: ${ha.csr[i]} vs ${hb.csr[i]}`;
  }
  if (ha.retired !== hb.retired) return `instret ${ha.retired} vs ${hb.retired}`;
  if (ha.trapsTaken !== hb.trapsTaken) return `traps ${ha.trapsTaken} vs ${hb.trapsTaken}`;
  if (ha.reservation !== hb.reservation) return `reservation ${ha.reservation} vs ${hb.reservation}`;
  if (a.output.length !== b.output.length || (withRam && a.output !== b.output)) return 'console output';
  if (withRam) {
    const ra = Buffer.from(ha.ram8.buffer, ha.ram8.byteOffset, ha.ram8.length);
    const rb = Buffer.from(hb.ram8.buffer, hb.ram8.byteOffset, hb.ram8.length);
    if (!ra.equals(rb)) {
      let i = 0;
      while (ra[i] === rb[i]) i++;
      return `RAM byte 0x${i.toString(16)}`;
    }
  }
  return null;
}

/** Runs both sides in lockstep to the end (or `limit` instructions); returns instructions compared. */
function lockstep(
  file: string,
  seed: string,
  limit = 400e6,
  jit: JitOptions = { threshold: 0 },
): { instructions: number; compiledCalls: number; stats: JitStats; maxLiveCodeBytes: number } {
  const a = side(file, false);
  const b = side(file, jit);
  let maxLiveCodeBytes = 0;
  const rng = new Rng(seed);
  let steps = 0;
  while (a.exit === null && b.exit === null) {
    const r = rng.int(16);
    const budget = r < 10 ? 1 + rng.int(24) : r < 15 ? 1 + rng.int(2000) : 1 + rng.int(65536);
    const ra = a.machine.hart.run(budget);
    const rb = b.machine.hart.run(budget);
    steps++;
    maxLiveCodeBytes = Math.max(maxLiveCodeBytes, b.machine.hart.jit?.stats.liveCodeBytes ?? 0);
    const diff =
      ra !== rb ? `retired ${ra} vs ${rb} of budget ${budget}` : difference(a, b, steps % 64 === 0);
    if (diff !== null) {
      throw new Error(
        `${path.basename(file)} (seed ${seed}): after ${a.machine.hart.retired} instructions (step ${steps}), ` +
          `interpreter and compiled tier differ: ${diff}`,
      );
    }
    if (a.machine.hart.waiting) break;
    if (a.machine.hart.retired > limit) break;
  }
  const final = difference(a, b, true);
  if (final !== null) throw new Error(`${path.basename(file)} (seed ${seed}): at the end: ${final}`);
  assert.equal(a.exit, b.exit);
  // A batch the translator or V8 refused falls back to the interpreter silently; here it is a bug.
  assert.equal(b.machine.hart.jit?.stats.failedBatches, 0, b.machine.hart.jit?.lastError ?? '');
  const stats = b.machine.hart.jit?.stats as JitStats;
  return { instructions: a.machine.hart.retired, compiledCalls: stats.regionCalls, stats, maxLiveCodeBytes };
}

async function sequencesElf(seed: string, count: number, length: number): Promise<string> {
  const seqs = [];
  for (let i = 0; i < count; i++) seqs.push(generateSequence(seed, i, { length }));
  return (await buildElf(seqs, `jit-lockstep-${seed}`)).elf;
}

test('lockstep: random sequences (all categories, M/S/U, Sv39) run the same on the interpreter and the tier', async (t) => {
  const tools = checkTools();
  if (!tools.ok) {
    if (CI) assert.fail(`lockstep test needs ${tools.missing.join(', ')}`);
    return t.skip(`missing ${tools.missing.join(', ')}`);
  }
  const seeds = ['jit-1', 'jit-2', 'jit-3', `jit-${new Date().toISOString().slice(0, 10)}`];
  for (let i = 0; i < SOAK; i++) seeds.push(`jit-soak-${Date.now()}-${i}`);
  let instructions = 0;
  let calls = 0;
  for (const seed of seeds) {
    const elf = await sequencesElf(seed, 60, 40);
    const r = lockstep(elf, seed);
    instructions += r.instructions;
    calls += r.compiledCalls;
  }
  t.diagnostic(`${instructions} instructions compared, ${calls} calls of compiled regions`);
  assert.ok(calls > 1000, 'the tier really ran');
});

test('the compiled code in use stays within its budget: everything is dropped and compiled again, still exact', async (t) => {
  const tools = checkTools();
  if (!tools.ok) {
    if (CI) assert.fail(`lockstep test needs ${tools.missing.join(', ')}`);
    return t.skip(`missing ${tools.missing.join(', ')}`);
  }
  const budget = 32 * 1024;
  const elf = await sequencesElf('jit-budget', 20, 40);
  const r = lockstep(elf, 'jit-budget', 400e6, { threshold: 0, codeBudgetBytes: budget });
  t.diagnostic(
    `${r.stats.wasmBytes} wasm bytes compiled, at most ${r.maxLiveCodeBytes} in use, ${r.stats.codeFlushes} flushes`,
  );
  assert.ok(r.stats.codeFlushes > 0, 'the budget was reached and everything dropped');
  // In strict mode a batch is one region (one page: at most 2048 instructions), which may come on top.
  const bound = budget + 256 * 1024;
  assert.ok(r.maxLiveCodeBytes <= bound, `${r.maxLiveCodeBytes} bytes in use`);
  assert.ok(
    r.stats.wasmBytes > 2 * bound,
    `the program compiles more than the bound allows (${r.stats.wasmBytes})`,
  );
});

test('lockstep: the benchmark programs (when built) run the same on both', (t) => {
  const dir = path.join(REPO_ROOT, 'build', 'baremetal', 'bench');
  const programs = ['crc32'].map((p) => path.join(dir, `${p}.elf`)).filter(existsSync);
  if (programs.length === 0) return t.skip('bench programs not built (scripts/build-baremetal.sh)');
  for (const file of programs) {
    const r = lockstep(file, path.basename(file), 10e6);
    t.diagnostic(`${path.basename(file)}: ${r.instructions} instructions, ${r.compiledCalls} region calls`);
  }
});
