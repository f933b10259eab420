/**
 * CPU benchmark: runs each compiled bench program (bench/programs/*.c, built by
 * scripts/build-baremetal.sh) on QEMU's TCG and on one or more Typervisor variants (Node binaries and
 * CLI flags, see variants.ts), several rounds interleaved so that all see the same machine load, and
 * prints the medians.
 *
 * The main figure is guest time on both sides: Typervisor's is the execution time `run-elf --stats`
 * reports; QEMU's is its whole-process wall time minus the median wall time of a program that exits at
 * once (start-up, loading and exit). Whole-process wall times are reported beside it.
 *
 * Usage: node dist/bench/cpu.js [options]   (see USAGE; method and caveats: docs/performance.md)
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { geomean, median } from './stats.js';
import { fmt, printTable } from './table.js';
import {
  CLI,
  describeVariants,
  ROOT,
  resolveVariants,
  typervisorCommand,
  VARIANT_OPTIONS,
  VARIANT_USAGE,
  type Variant,
  VariantError,
} from './variants.js';

const USAGE = `usage: node dist/bench/cpu.js [options]
  --rounds N         rounds per program, interleaved (default 3)
  --only a,b         run only these programs (names from bench/programs/*.c)
  --qemu-only        do not run Typervisor
  --no-qemu          do not run QEMU (instruction counts then come from Typervisor alone)
  --rebuild          run scripts/build-baremetal.sh even if the images look up to date
  --json FILE        also write all samples and results to FILE
  --timeout SECONDS  per run (default 600)
  --qemu BIN         QEMU binary (default qemu-system-riscv64)
${VARIANT_USAGE}`;

interface Options {
  rounds: number;
  only: string[] | null;
  qemu: boolean;
  rebuild: boolean;
  json: string | null;
  timeoutSeconds: number;
  qemuBin: string;
  variants: Variant[];
}

class UsageError extends Error {}

function parseCliArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    options: {
      ...VARIANT_OPTIONS,
      rounds: { type: 'string', default: '3' },
      only: { type: 'string' },
      'qemu-only': { type: 'boolean', default: false },
      'no-qemu': { type: 'boolean', default: false },
      rebuild: { type: 'boolean', default: false },
      json: { type: 'string' },
      timeout: { type: 'string', default: '600' },
      qemu: { type: 'string', default: 'qemu-system-riscv64' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
}

function parseOptions(argv: string[]): Options {
  let values: ReturnType<typeof parseCliArgs>;
  try {
    values = parseCliArgs(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new UsageError('--rounds must be a positive integer');
  const timeoutSeconds = Number(values.timeout);
  if (!(timeoutSeconds > 0)) throw new UsageError('--timeout must be positive');
  if (values['qemu-only'] && values['no-qemu'])
    throw new UsageError('--qemu-only and --no-qemu exclude each other');
  return {
    rounds,
    only: values.only
      ? values.only
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : null,
    qemu: !values['no-qemu'],
    rebuild: values.rebuild,
    json: values.json ?? null,
    timeoutSeconds,
    qemuBin: values.qemu,
    variants: values['qemu-only'] ? [] : resolveVariants(values),
  };
}

const BUILD = path.join(ROOT, 'build', 'baremetal', 'bench');

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
}

function runTypervisor(
  opts: Options,
  variant: Variant,
  elf: string,
): Run & { stats: TypervisorStats | null } {
  const { command, args } = typervisorCommand(variant, 'run-elf', [elf, '--stats']);
  const r = timedRun(command, args, opts.timeoutSeconds);
  let stats: TypervisorStats | null = null;
  for (const line of r.stderr.split('\n').reverse()) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const j = JSON.parse(t) as Partial<TypervisorStats>;
      if (typeof j.instructions === 'number' && typeof j.seconds === 'number') {
        stats = { instructions: j.instructions, seconds: j.seconds };
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

interface VariantSamples {
  wall: number[];
  guest: number[];
  instructions: number | null;
}

interface ProgramResult {
  program: string;
  qemuIcountInstructions: number | null;
  qemuWall: number[];
  tv: VariantSamples[];
}

function main(): void {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError || e instanceof VariantError) {
      console.error(`bench:cpu: ${e.message}\n${e instanceof UsageError ? USAGE : ''}`);
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

  let qemuVersion = '';
  if (opts.qemu) {
    const v = spawnSync(opts.qemuBin, ['--version'], { encoding: 'utf8' });
    if (v.error || v.status !== 0) {
      fail(
        `${opts.qemuBin} is not available (${v.error?.message ?? `exit status ${v.status}`}).\n` +
          'Install it (Debian/Ubuntu: apt-get install qemu-system-misc), pass --qemu BIN, or use --no-qemu.',
      );
    }
    qemuVersion = v.stdout.split('\n')[0];
    console.log(`QEMU: ${qemuVersion}`);
  }

  // A variant that cannot even run the empty program (a broken build, an unknown flag) is left out.
  if (opts.variants.length > 0 && !existsSync(CLI)) {
    fail(`${path.relative(ROOT, CLI)} does not exist (run npx tsc -p tsconfig.json)`);
  }
  opts.variants = opts.variants.filter((v) => {
    const probe = runTypervisor(opts, v, path.join(BUILD, 'empty.elf'));
    let reason = '';
    if (probe.status !== 0) reason = describeFailure('run-elf empty.elf --stats', probe);
    else if (!probe.stats) reason = 'run-elf --stats printed no {"instructions":...} line on stderr';
    if (reason) console.log(`Typervisor ${v.label} is not usable, left out: ${reason}`);
    return reason === '';
  });
  if (opts.variants.length === 0 && !opts.qemu)
    fail('no Typervisor variant is usable and --no-qemu was given');
  if (opts.variants.length > 0) {
    console.log(
      `Typervisor (${path.relative(ROOT, CLI)} run-elf --stats):\n  ${describeVariants(opts.variants)}`,
    );
  }

  const results: ProgramResult[] = programs.map((program) => ({
    program,
    qemuIcountInstructions: null,
    qemuWall: [],
    tv: opts.variants.map(() => ({ wall: [], guest: [], instructions: null })),
  }));
  const emptyQemu: number[] = [];
  const emptyTv: number[][] = opts.variants.map(() => []);
  const errors: string[] = [];

  const loadStart = loadavg()[0];
  const nCpus = cpus().length;
  console.log(
    `Host: ${nCpus} CPU(s), 1-minute load average ${loadStart.toFixed(2)}` +
      (loadStart > nCpus - 1 ? ' (busy: other processes will distort the timings)' : ''),
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

  // -1 is QEMU, i >= 0 the variant opts.variants[i].
  const emulators = [...(opts.qemu ? [-1] : []), ...opts.variants.map((_, i) => i)];
  for (let round = 0; round < opts.rounds; round++) {
    process.stdout.write(`Round ${round + 1}/${opts.rounds}:`);
    // Rotate the order each round, so that no emulator always runs first on a cooler machine.
    const order = emulators.map((_, i) => emulators[(i + round) % emulators.length]);
    const jobs: Array<{ name: string; result: ProgramResult | null }> = [
      { name: 'empty', result: null },
      ...results.map((r) => ({ name: r.program, result: r })),
    ];
    for (const { name, result } of jobs) {
      process.stdout.write(` ${name}`);
      const elf = path.join(BUILD, `${name}.elf`);
      for (const emu of order) {
        if (emu < 0) {
          const run = runQemu(opts, elf);
          if (!result) {
            if (run.status === 0) emptyQemu.push(run.wallSeconds);
          } else if (check(name, 'QEMU', run)) {
            result.qemuWall.push(run.wallSeconds);
          }
          continue;
        }
        const variant = opts.variants[emu];
        const run = runTypervisor(opts, variant, elf);
        if (!result) {
          if (run.status === 0) emptyTv[emu].push(run.wallSeconds);
        } else if (!check(name, `Typervisor ${variant.label}`, run)) {
          // Recorded in errors.
        } else if (!run.stats) {
          errors.push(`${name} on Typervisor ${variant.label}: no --stats line on stderr`);
        } else {
          const s = result.tv[emu];
          s.wall.push(run.wallSeconds);
          s.guest.push(run.stats.seconds);
          s.instructions = run.stats.instructions;
        }
      }
    }
    process.stdout.write('\n');
  }
  const loadEnd = loadavg()[0];

  // Every variant must count the same instructions as QEMU: a tier that skips or repeats work is wrong.
  const instructions = results.map((r) => {
    const counts = r.tv.map((s) => s.instructions).filter((n): n is number => n !== null);
    for (const [i, s] of r.tv.entries()) {
      if (s.instructions === null || r.qemuIcountInstructions === null) continue;
      // The counts cover slightly different spans (QEMU's: main only), so allow a little slack.
      const diff = Math.abs(s.instructions - r.qemuIcountInstructions);
      if (diff > 1000 + r.qemuIcountInstructions * 1e-4) {
        errors.push(
          `${r.program}: Typervisor ${opts.variants[i].label} counted ${s.instructions} instructions, QEMU ${r.qemuIcountInstructions}`,
        );
      }
    }
    if (new Set(counts).size > 1) {
      errors.push(
        `${r.program}: the Typervisor variants counted different instructions: ${counts.join(', ')}`,
      );
    }
    return counts[0] ?? r.qemuIcountInstructions ?? Number.NaN;
  });

  const qemuStartup = median(emptyQemu);
  const labels = opts.variants.map((v) => v.label);
  const summary = results.map((r, p) => {
    const n = instructions[p];
    const qWall = median(r.qemuWall);
    // Negative or zero when start-up noise exceeds the run itself: then there is no figure.
    const qGuest = qWall > qemuStartup ? qWall - qemuStartup : Number.NaN;
    return {
      program: r.program,
      instructions: n,
      qemuIcountInstructions: r.qemuIcountInstructions,
      qemu: { wallSeconds: qWall, guestSeconds: qGuest, mips: n / qGuest / 1e6, wallMips: n / qWall / 1e6 },
      typervisor: r.tv.map((s, i) => {
        const wall = median(s.wall);
        const guest = median(s.guest);
        return {
          variant: labels[i],
          instructions: s.instructions,
          wallSeconds: wall,
          guestSeconds: guest,
          mips: n / guest / 1e6,
          wallMips: n / wall / 1e6,
          ratio: qGuest / guest,
          wallRatio: qWall / wall,
          samples: { wall: s.wall, guest: s.guest },
        };
      }),
      samples: { qemuWall: r.qemuWall },
    };
  });

  console.log(
    `\nMedians of ${opts.rounds} interleaved round(s); MIPS = guest instructions / second; load average ` +
      `${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end.`,
  );
  if (opts.qemu) {
    console.log(
      `QEMU guest time = its wall time minus ${fmt(qemuStartup * 1000, 1)} ms, the median wall time of the empty program.`,
    );
  }
  if (opts.variants.length > 0) {
    console.log(
      `Typervisor guest time = what run-elf --stats reports. Empty program, whole process: ${opts.variants
        .map((v, i) => `${v.label} ${fmt(median(emptyTv[i]) * 1000, 0)} ms`)
        .join(', ')}.`,
    );
  }

  // The main table: guest time on both sides.
  const header = ['program', 'M instr'];
  if (opts.qemu) header.push('QEMU guest s', 'QEMU MIPS');
  for (const l of labels) {
    header.push(`${l} guest s`, `${l} MIPS`);
    if (opts.qemu) header.push(`${l} / QEMU`);
  }
  const rows = summary.map((s) => {
    const row = [s.program, fmt(s.instructions / 1e6, 1)];
    if (opts.qemu) row.push(fmt(s.qemu.guestSeconds, 3), fmt(s.qemu.mips, 0));
    for (const t of s.typervisor) {
      row.push(fmt(t.guestSeconds, 3), fmt(t.mips, 1));
      if (opts.qemu) row.push(fmt(t.ratio, 3));
    }
    return row;
  });
  const geoRow = ['geometric mean', ''];
  if (opts.qemu) geoRow.push('', fmt(geomean(summary.map((s) => s.qemu.mips)), 0));
  labels.forEach((_, i) => {
    geoRow.push('', fmt(geomean(summary.map((s) => s.typervisor[i].mips)), 1));
    if (opts.qemu) geoRow.push(fmt(geomean(summary.map((s) => s.typervisor[i].ratio)), 3));
  });
  rows.push(geoRow);
  console.log('\nGuest time (the main comparison; X / QEMU = X MIPS / QEMU MIPS, higher is better):\n');
  printTable(header, rows);

  // Beside it: whole processes, start-up included.
  const wHeader = ['program'];
  if (opts.qemu) wHeader.push('QEMU wall s', 'QEMU MIPS');
  for (const l of labels) {
    wHeader.push(`${l} wall s`, `${l} MIPS`);
    if (opts.qemu) wHeader.push(`${l} / QEMU`);
  }
  const wRows = summary.map((s) => {
    const row = [s.program];
    if (opts.qemu) row.push(fmt(s.qemu.wallSeconds, 3), fmt(s.qemu.wallMips, 0));
    for (const t of s.typervisor) {
      row.push(fmt(t.wallSeconds, 3), fmt(t.wallMips, 1));
      if (opts.qemu) row.push(fmt(t.wallRatio, 3));
    }
    return row;
  });
  const wGeo = ['geometric mean'];
  if (opts.qemu) wGeo.push('', fmt(geomean(summary.map((s) => s.qemu.wallMips)), 0));
  labels.forEach((_, i) => {
    wGeo.push('', fmt(geomean(summary.map((s) => s.typervisor[i].wallMips)), 1));
    if (opts.qemu) wGeo.push(fmt(geomean(summary.map((s) => s.typervisor[i].wallRatio)), 3));
  });
  wRows.push(wGeo);
  console.log('\nWhole process (start-up, loading and exit included):\n');
  printTable(wHeader, wRows);

  if (opts.json) {
    writeFileSync(
      opts.json,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          qemu: qemuVersion,
          variants: opts.variants.map((v) => ({
            label: v.label,
            node: v.node.version,
            nodePath: v.node.path,
            flags: v.flags,
          })),
          cpus: nCpus,
          loadAverage: { start: loadStart, end: loadEnd },
          rounds: opts.rounds,
          qemuStartupSeconds: qemuStartup,
          typervisorStartupSeconds: Object.fromEntries(labels.map((l, i) => [l, median(emptyTv[i])])),
          programs: summary,
          geomean: {
            qemuMips: geomean(summary.map((s) => s.qemu.mips)),
            typervisor: labels.map((l, i) => ({
              variant: l,
              mips: geomean(summary.map((s) => s.typervisor[i].mips)),
              ratio: geomean(summary.map((s) => s.typervisor[i].ratio)),
              wallRatio: geomean(summary.map((s) => s.typervisor[i].wallRatio)),
            })),
          },
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
