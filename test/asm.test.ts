/**
 * Runs the hand-written bare-metal assembly programs in test/asm/ on Typervisor's `run-elf` (and, when
 * qemu-system-riscv64 is installed, on QEMU too, to keep the programs themselves honest).
 *
 * Each program reports through HTIF `tohost`: 1 for pass, (n << 1) | 1 when check n fails. On failure
 * the check number is mapped back to its source line through the `check_<n>` symbols the macros emit.
 *
 * Needs the Debian cross toolchain (package gcc-riscv64-unknown-elf). Without it the programs cannot
 * be built: the tests are skipped locally but fail under CI, where the toolchain must be installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC_DIR = join(ROOT, 'test', 'asm');
const BUILD_DIR = join(ROOT, 'build', 'asm');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const GCC = process.env.RISCV_GCC ?? 'riscv64-unknown-elf-gcc';
const QEMU = process.env.QEMU ?? 'qemu-system-riscv64';
const MAX_INSNS = 50_000_000;
const RUN_TIMEOUT_MS = 30_000;

function hasCommand(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(
      cmd,
      args,
      { timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const err = error as
          | (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals })
          | null;
        resolvePromise({
          code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
          signal: err?.signal ?? null,
          stdout,
          stderr: err && typeof err.code === 'string' ? `${stderr}${err.message}\n` : stderr,
        });
      },
    );
  });
}

/** "file.S:123: <source text>" for check `n` of `elf`, or '' when it cannot be found. */
function locateCheck(elf: string, n: number): string {
  const prefix = GCC.replace(/gcc$/, '');
  const nm = spawnSync(`${prefix}nm`, [elf], { encoding: 'utf8' });
  if (nm.status !== 0) return '';
  const line = nm.stdout.split('\n').find((l) => l.trim().split(/\s+/)[2] === `check_${n}`);
  if (!line) return '';
  const addr = line.trim().split(/\s+/)[0];
  const a2l = spawnSync(`${prefix}addr2line`, ['-e', elf, addr], { encoding: 'utf8' });
  const where = a2l.stdout.trim();
  const m = /^(.*):(\d+)/.exec(where);
  if (a2l.status !== 0 || !m) return '';
  let text = '';
  try {
    text = readFileSync(m[1], 'utf8').split('\n')[Number(m[2]) - 1]?.trim() ?? '';
  } catch {
    // the source line is a convenience only
  }
  return `${basename(m[1])}:${m[2]}: ${text}`;
}

function describeFailure(what: string, elf: string, r: RunResult, checkNo: number | undefined): string {
  const parts = [`${what} failed (exit status ${r.code ?? `signal ${r.signal}`})`];
  if (checkNo !== undefined) {
    const where = locateCheck(elf, checkNo);
    parts.push(`failed check #${checkNo}${where ? ` at ${where}` : ''}`);
  }
  if (r.stdout.trim()) parts.push(`stdout:\n${r.stdout.trimEnd()}`);
  if (r.stderr.trim()) parts.push(`stderr:\n${r.stderr.trimEnd()}`);
  return parts.join('\n');
}

function qemuMachine(src: string): string {
  return /^# qemu-machine: virt\b/m.test(readFileSync(src, 'utf8')) ? 'virt' : 'spike';
}

const TIERS: [string, string[]][] = [
  ['', []],
  [' (--jit off)', ['--jit', 'off']],
  [' (--jit-threshold 0)', ['--jit-threshold', '0']],
];

const sources = readdirSync(SRC_DIR)
  .filter((f) => f.endsWith('.S'))
  .sort();
const haveGcc = hasCommand(GCC, ['--version']);
const haveQemu = hasCommand(QEMU, ['--version']);

describe('assembly test programs (test/asm)', () => {
  if (!haveGcc) {
    const msg = `${GCC} not found: install Debian's gcc-riscv64-unknown-elf to build test/asm/*.S`;
    if (process.env.CI) {
      test('cross toolchain present', () => assert.fail(msg));
    } else {
      test('cross toolchain present', { skip: msg }, () => {});
    }
    return;
  }

  before(() => {
    const r = spawnSync('sh', [join(SRC_DIR, 'build.sh'), '-o', BUILD_DIR], { encoding: 'utf8' });
    if (r.status !== 0) {
      throw new Error(`building test/asm failed:\n${r.stdout}${r.stderr}`);
    }
  });

  for (const file of sources) {
    const name = basename(file, '.S');
    const src = join(SRC_DIR, file);
    const elf = join(BUILD_DIR, `${name}.elf`);
    const qemuElf = join(BUILD_DIR, `${name}.qemu.elf`);

    // The defaults (the compiled tier for hot code), the interpreter alone, and the tier's strict mode.
    for (const [label, flags] of TIERS) {
      test(`${name} on Typervisor${label}`, { timeout: RUN_TIMEOUT_MS + 5_000 }, async () => {
        assert.ok(existsSync(CLI), `${CLI} missing: run tsc first`);
        const r = await run(process.execPath, [
          CLI,
          'run-elf',
          elf,
          '--max-insns',
          String(MAX_INSNS),
          ...flags,
        ]);
        if (r.code !== 0) {
          const m = /test #(\d+)/.exec(r.stderr);
          const n = m ? Number(m[1]) : r.code !== null && r.code > 0 && r.code < 124 ? r.code : undefined;
          assert.fail(describeFailure(`${name} on Typervisor${label}`, elf, r, n));
        }
      });
    }

    test(`${name} on QEMU (${qemuMachine(src)})`, {
      timeout: RUN_TIMEOUT_MS + 5_000,
      skip: haveQemu ? false : `${QEMU} not installed`,
    }, async () => {
      const r = await run(QEMU, ['-M', qemuMachine(src), '-nographic', '-bios', 'none', '-kernel', qemuElf]);
      if (r.code !== 0) {
        // QEMU's exit status is the check number modulo 256.
        const n = r.code !== null && r.code > 0 ? r.code : undefined;
        assert.fail(describeFailure(`${name} on QEMU`, qemuElf, r, n));
      }
    });
  }
});
