/**
 * CPU benchmark: runs each compiled bench program (bench/programs/*.c, built by
 * scripts/build-baremetal.sh) on QEMU's TCG and on Typervisor, several rounds
 * interleaved so that both see the same machine load, and prints the medians.
 *
 * Usage: node dist/bench/cpu.js [--rounds N] [--only a,b] [--qemu-only] [--no-qemu]
 *                               [--rebuild] [--json FILE] [--timeout SECONDS] [--qemu BIN]
 *
 * Method and caveats: docs/performance.md.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';

interface Options {
  rounds: number;
  only: string[] | null;
  typervisor: boolean;
  qemu: boolean;
  rebuild: boolean;
  json: string | null;
  timeoutSeconds: number;
  qemuBin: string;
}

const USAGE = `usage: node dist/bench/cpu.js [options]
  --rounds N         rounds per program, interleaved (default 5)
  --only a,b         run only these programs (names from bench/programs/*.c)
  --qemu-only        do not run Typervisor
  --no-qemu          do not run QEMU (instruction counts then come from Typervisor alone)
  --rebuild          run scripts/build-baremetal.sh even if the images look up to date
  --json FILE        also write all samples and results to FILE
  --timeout SECONDS  per run (default 600)
  --qemu BIN         QEMU binary (default qemu-system-riscv64)`;

class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    rounds: 5,
    only: null,
    typervisor: true,
    qemu: true,
    rebuild: false,
    json: null,
    timeoutSeconds: 600,
    qemuBin: 'qemu-system-riscv64',
  };
  const value = (i: number): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`${argv[i]} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--rounds':
        opts.rounds = Number.parseInt(value(i++), 10);
        if (!(opts.rounds >= 1)) throw new UsageError('--rounds must be a positive integer');
        break;
      case '--only':
        opts.only = value(i++)
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
        break;
      case '--qemu-only':
        opts.typervisor = false;
        break;
      case '--no-qemu':
        opts.qemu = false;
        break;
      case '--rebuild':
        opts.rebuild = true;
        break;
      case '--json':
        opts.json = value(i++);
        break;
      case '--timeout':
        opts.timeoutSeconds = Number(value(i++));
        if (!(opts.timeoutSeconds > 0)) throw new UsageError('--timeout must be positive');
        break;
      case '--qemu':
        opts.qemuBin = value(i++);
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new UsageError(`unknown argument '${a}'`);
    }
  }
  if (!opts.typervisor && !opts.qemu) throw new UsageError('--qemu-only and --no-qemu exclude each other');
  return opts;
}

/** The repository root: the nearest ancestor of this file holding package.json (works from dist/bench/). */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'scripts'))) return dir;
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error(`cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

const ROOT = findRoot();
const BUILD = path.join(ROOT, 'build', 'baremetal', 'bench');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

function fail(message: string): never {
  console.error(`bench:cpu: ${message}`);
  process.exit(1);
}

function newestMtime(dir: string, exts: string[]): number {
  let newest = 0;
  for (const f of readdirSync(dir)) {
    if (exts.some((e) => f.endsWith(e))) newest = Math.max(newest, statSync(path.join(dir, f)).mtimeMs);
  }
  return newest;
}

/** Builds the images when any is missing or older than the sources it comes from. */
function ensureBuilt(programs: string[], force: boolean): void {
  const elfs = [...programs.flatMap((p) => [`${p}.elf`, `${p}.instret.elf`]), 'empty.elf'].map((f) =>
    path.join(BUILD, f),
  );
  const sources = Math.max(
    newestMtime(path.join(ROOT, 'bench', 'programs'), ['.c', '.h']),
    newestMtime(path.join(ROOT, 'bench', 'baseline'), ['.c']),
    newestMtime(path.join(ROOT, 'images', 'baremetal'), ['.c', '.h', '.S', '.ld']),
  );
  const stale = elfs.some((f) => !existsSync(f) || statSync(f).mtimeMs < sources);
  if (!force && !stale) return;
  console.log(
    force ? 'Rebuilding the bare-metal images:' : 'Bare-metal images missing or out of date, building:',
  );
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'build-baremetal.sh')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (r.error) fail(`cannot run scripts/build-baremetal.sh: ${r.error.message}`);
  if (r.status !== 0) fail('scripts/build-baremetal.sh failed (see above)');
}

interface Run {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  wallSeconds: number;
}

function timedRun(cmd: string, args: string[], timeoutSeconds: number): Run {
  const t0 = process.hrtime.bigint();
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    cwd: ROOT,
    encoding: 'latin1',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeoutSeconds * 1000,
    maxBuffer: 64 << 20,
  });
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${cmd} not found`);
  }
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    wallSeconds,
  };
}

function describeFailure(what: string, r: Run): string {
  const how = r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  const tail = (r.stdout + r.stderr).trimEnd().split('\n').slice(-8).join('\n    ');
  return `${what}: ${how}${tail ? `\n    ${tail}` : ''}`;
}

const qemuArgs = (elf: string, icount: boolean): string[] => [
  '-M',
  'spike',
  '-nographic',
  '-bios',
  'none',
  ...(icount ? ['-icount', 'shift=0'] : []),
  '-kernel',
  elf,
];

function runQemu(opts: Options, elf: string, icount = false): Run {
  return timedRun(opts.qemuBin, qemuArgs(elf, icount), opts.timeoutSeconds);
}

interface TypervisorStats {
  instructions: number;
  seconds: number;
  mips: number;
}

function runTypervisor(opts: Options, elf: string): Run & { stats: TypervisorStats | null } {
  const r = timedRun(process.execPath, [CLI, 'run-elf', elf, '--stats'], opts.timeoutSeconds);
  let stats: TypervisorStats | null = null;
  for (const line of r.stderr.split('\n').reverse()) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const j = JSON.parse(t) as Partial<TypervisorStats>;
      if (typeof j.instructions === 'number' && typeof j.seconds === 'number') {
        stats = {
          instructions: j.instructions,
          seconds: j.seconds,
          mips: j.mips ?? j.instructions / j.seconds / 1e6,
        };
        break;
      }
    } catch {
      // Not the stats line; keep looking.
    }
  }
  return { ...r, stats };
}

/**
 * Guest instructions from _start to the return of main, as counted by QEMU:
 * the .instret variant of each program prints the difference of minstret
 * around main, and under -icount shift=0 QEMU's minstret counts executed
 * instructions (without -icount it follows the host's clock).
 */
function qemuInstructionCount(opts: Options, program: string): number {
  const r = runQemu(opts, path.join(BUILD, `${program}.instret.elf`), true);
  const m = /instret: (\d+)\s*$/.exec(r.stdout);
  if (r.status !== 0 || !m)
    throw new Error(describeFailure(`${program}.instret.elf on QEMU with -icount`, r));
  return Number(m[1]);
}

function geomean(xs: number[]): number {
  const ok = xs.filter((x) => Number.isFinite(x) && x > 0);
  if (ok.length === 0) return Number.NaN;
  return Math.exp(ok.reduce((s, x) => s + Math.log(x), 0) / ok.length);
}

interface ProgramResult {
  program: string;
  qemuIcountInstructions: number | null;
  typervisorInstructions: number | null;
  instructions: number;
  qemuWall: number[];
  typervisorWall: number[];
  typervisorGuestSeconds: number[];
  outputMismatch: boolean;
}

function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

function main(): void {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`bench:cpu: ${e.message}\n${USAGE}`);
      process.exit(2);
    }
    throw e;
  }

  const all = readdirSync(path.join(ROOT, 'bench', 'programs'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => f.slice(0, -2))
    .sort();
  const programs = opts.only ?? all;
  for (const p of programs) {
    if (!all.includes(p)) fail(`unknown program '${p}' (have: ${all.join(', ')})`);
  }

  ensureBuilt(all, opts.rebuild);

  if (opts.qemu) {
    const v = spawnSync(opts.qemuBin, ['--version'], { encoding: 'utf8' });
    if (v.error || v.status !== 0) {
      fail(
        `${opts.qemuBin} is not available (${v.error?.message ?? `exit status ${v.status}`}).\n` +
          'Install it (Debian/Ubuntu: apt-get install qemu-system-misc), pass --qemu BIN, or use --no-qemu.',
      );
    }
    console.log(`QEMU: ${v.stdout.split('\n')[0]}`);
  }

  // Typervisor is optional while the CPU is being written: probe with the empty program.
  if (opts.typervisor) {
    let reason = '';
    if (!existsSync(CLI)) {
      reason = `${path.relative(ROOT, CLI)} does not exist (run npx tsc -p tsconfig.json)`;
    } else {
      const probe = runTypervisor(opts, path.join(BUILD, 'empty.elf'));
      if (probe.status !== 0) reason = describeFailure('run-elf empty.elf --stats', probe);
      else if (!probe.stats) reason = 'run-elf --stats printed no {"instructions":...} line on stderr';
    }
    if (reason) {
      if (!opts.qemu) fail(`Typervisor is not usable: ${reason}`);
      console.log(`Typervisor is not usable, measuring QEMU only: ${reason}`);
      opts.typervisor = false;
    } else {
      console.log(`Typervisor: node ${process.version}, ${path.relative(ROOT, CLI)} run-elf --stats`);
    }
  }

  const results: ProgramResult[] = programs.map((program) => ({
    program,
    qemuIcountInstructions: null,
    typervisorInstructions: null,
    instructions: Number.NaN,
    qemuWall: [],
    typervisorWall: [],
    typervisorGuestSeconds: [],
    outputMismatch: false,
  }));
  const emptyQemu: number[] = [];
  const emptyTypervisor: number[] = [];
  const errors: string[] = [];

  const load = loadavg()[0];
  const nCpus = cpus().length;
  console.log(
    `Host: ${nCpus} CPU(s), 1-minute load average ${load.toFixed(2)}` +
      (load > nCpus - 1 ? ' (busy: other processes will distort the timings)' : ''),
  );

  if (opts.qemu) {
    console.log('Counting instructions with QEMU -icount shift=0 ...');
    for (const r of results) {
      try {
        r.qemuIcountInstructions = qemuInstructionCount(opts, r.program);
      } catch (e) {
        fail((e as Error).message);
      }
    }
  }

  const expectedOutput = new Map<string, string>();
  const check = (program: string, who: string, run: Run): boolean => {
    if (run.status !== 0) {
      errors.push(describeFailure(`${program} on ${who}`, run));
      return false;
    }
    const want = expectedOutput.get(program);
    if (want === undefined) {
      expectedOutput.set(program, run.stdout);
    } else if (run.stdout !== want) {
      errors.push(`${program} on ${who}: console output differs from the first run's:\n${run.stdout}`);
      return false;
    }
    return true;
  };

  for (let round = 0; round < opts.rounds; round++) {
    process.stdout.write(`Round ${round + 1}/${opts.rounds}:`);
    // Alternate which emulator goes first, so neither always runs on a warmer machine.
    const qemuFirst = round % 2 === 0;
    const emulators: Array<'qemu' | 'typervisor'> = [];
    if (opts.qemu) emulators.push('qemu');
    if (opts.typervisor) emulators[qemuFirst ? 'push' : 'unshift']('typervisor');
    const jobs: Array<{ name: string; result: ProgramResult | null }> = [
      { name: 'empty', result: null },
      ...results.map((r) => ({ name: r.program, result: r })),
    ];
    for (const { name, result } of jobs) {
      process.stdout.write(` ${name}`);
      const elf = path.join(BUILD, `${name}.elf`);
      for (const emu of emulators) {
        if (emu === 'qemu') {
          const run = runQemu(opts, elf);
          if (!result) {
            if (run.status === 0) emptyQemu.push(run.wallSeconds);
          } else if (check(name, 'QEMU', run)) {
            result.qemuWall.push(run.wallSeconds);
          } else {
            result.outputMismatch = true;
          }
          continue;
        }
        const run = runTypervisor(opts, elf);
        if (!result) {
          if (run.status === 0) emptyTypervisor.push(run.wallSeconds);
        } else if (!check(name, 'Typervisor', run)) {
          result.outputMismatch = true;
        } else if (!run.stats) {
          errors.push(`${name} on Typervisor: no --stats line on stderr`);
        } else {
          result.typervisorWall.push(run.wallSeconds);
          result.typervisorGuestSeconds.push(run.stats.seconds);
          result.typervisorInstructions = run.stats.instructions;
        }
      }
    }
    process.stdout.write('\n');
  }

  for (const r of results) {
    r.instructions = r.typervisorInstructions ?? r.qemuIcountInstructions ?? Number.NaN;
    if (r.typervisorInstructions !== null && r.qemuIcountInstructions !== null) {
      // The counts cover slightly different spans (QEMU's: main only), so allow a little slack.
      const diff = Math.abs(r.typervisorInstructions - r.qemuIcountInstructions);
      if (diff > 1000 + r.qemuIcountInstructions * 1e-4) {
        errors.push(
          `${r.program}: Typervisor counted ${r.typervisorInstructions} instructions, QEMU ${r.qemuIcountInstructions}`,
        );
      }
    }
  }

  const qemuStartup = median(emptyQemu);
  const rows: string[][] = [];
  const tvMips: number[] = [];
  const qemuMips: number[] = [];
  const qemuNetMips: number[] = [];
  const ratios: number[] = [];
  const summary = results.map((r) => {
    const qWall = median(r.qemuWall);
    const tWall = median(r.typervisorWall);
    const tGuest = median(r.typervisorGuestSeconds);
    const qM = r.instructions / qWall / 1e6;
    // Meaningless when start-up noise exceeds the run itself (a busy machine).
    const qNetM = qWall > qemuStartup ? r.instructions / (qWall - qemuStartup) / 1e6 : Number.NaN;
    const tM = r.instructions / tGuest / 1e6;
    const ratio = tM / qM;
    tvMips.push(tM);
    qemuMips.push(qM);
    qemuNetMips.push(qNetM);
    ratios.push(ratio);
    const row = [r.program, fmt(r.instructions / 1e6, 1)];
    if (opts.typervisor) row.push(fmt(tGuest, 3), fmt(tWall, 3), fmt(tM, 1));
    if (opts.qemu) row.push(fmt(qWall, 3), fmt(qM, 1), fmt(qNetM, 1));
    if (opts.typervisor && opts.qemu) row.push(fmt(ratio, 3));
    rows.push(row);
    return {
      program: r.program,
      instructions: r.instructions,
      qemuIcountInstructions: r.qemuIcountInstructions,
      typervisorInstructions: r.typervisorInstructions,
      typervisorGuestSeconds: tGuest,
      typervisorWallSeconds: tWall,
      typervisorMips: tM,
      qemuWallSeconds: qWall,
      qemuMips: qM,
      qemuMipsExclStartup: qNetM,
      ratio,
      samples: {
        qemuWall: r.qemuWall,
        typervisorWall: r.typervisorWall,
        typervisorGuest: r.typervisorGuestSeconds,
      },
    };
  });
  const geo = ['geometric mean', ''];
  if (opts.typervisor) geo.push('', '', fmt(geomean(tvMips), 1));
  if (opts.qemu) geo.push('', fmt(geomean(qemuMips), 1), fmt(geomean(qemuNetMips), 1));
  if (opts.typervisor && opts.qemu) geo.push(fmt(geomean(ratios), 3));
  rows.push(geo);

  const header = ['program', 'M instr'];
  if (opts.typervisor) header.push('TV guest s', 'TV wall s', 'TV MIPS');
  if (opts.qemu) header.push('QEMU wall s', 'QEMU MIPS', 'QEMU MIPS excl. start-up');
  if (opts.typervisor && opts.qemu) header.push('TV/QEMU');

  console.log(`\nMedians of ${opts.rounds} interleaved round(s); MIPS = guest instructions / second.`);
  console.log(
    'TV MIPS uses the guest execution time Typervisor reports; QEMU MIPS uses the wall time of the whole ' +
      'QEMU process (start-up included).',
  );
  if (opts.qemu) {
    console.log(
      `QEMU start-up + exit (empty program): ${fmt(qemuStartup * 1000, 1)} ms` +
        (opts.typervisor ? `; Typervisor (whole process): ${fmt(median(emptyTypervisor) * 1000, 1)} ms` : ''),
    );
  } else if (opts.typervisor) {
    console.log(`Typervisor start-up + exit (empty program): ${fmt(median(emptyTypervisor) * 1000, 1)} ms`);
  }
  console.log('');
  printTable(header, rows);

  if (opts.json) {
    writeFileSync(
      opts.json,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          cpus: nCpus,
          loadAverageAtStart: load,
          rounds: opts.rounds,
          qemuStartupSeconds: qemuStartup,
          typervisorStartupSeconds: median(emptyTypervisor),
          programs: summary,
          geomean: { typervisorMips: geomean(tvMips), qemuMips: geomean(qemuMips), ratio: geomean(ratios) },
          errors,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nWrote ${opts.json}`);
  }

  if (errors.length > 0) {
    console.error(`\nbench:cpu: ${errors.length} problem(s):`);
    for (const e of errors) console.error(`  ${e}`);
    process.exit(1);
  }
}

main();
