/**
 * Boot benchmark: boots Linux to its shell prompt on QEMU (qemu-system-riscv64 -M virt) and on one or
 * more Typervisor variants (variants.ts: Node binaries and CLI flags), with the same kernel file,
 * initramfs, RAM and command line, then times an in-guest CPU workload, and the host CPU an idle guest
 * costs at its prompt. Rounds are interleaved so that all see the same machine load.
 *
 * Rows, each kernel with each firmware:
 *   - kernels: the default guest (images/linux, Linux 6.1), and Debian's stock kernel when
 *     images/linux/debian-kernel.sh has fetched it (build/linux/debian-kernel/Image; never fetched here);
 *   - firmware "builtin": Typervisor's built-in SBI, QEMU's own OpenSBI (-bios default);
 *     firmware "opensbi": Debian's OpenSBI fw_dynamic.bin on both (--bios FILE, -bios FILE): like for like.
 *
 * Start-up is counted the same way on both sides: from spawning the process to the prompt on its
 * stdout, so Node's start-up and Typervisor's warm-up count as QEMU's own start-up does. Both get the
 * same uncompressed kernel file (QEMU 7.2 cannot load Image.gz), so neither decompresses while timed.
 *
 * Usage: node dist/bench/boot.js [options]   (see USAGE)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChildVm, PROMPT } from '../test/machine/guest-session.js';
import { DEBIAN_OPENSBI, qemuVirtArgs, rawKernel } from './qemu-virt.js';
import { median } from './stats.js';
import { fmt, printTable } from './table.js';
import {
  describeVariants,
  ROOT,
  resolveVariants,
  typervisorCommand,
  VARIANT_OPTIONS,
  VARIANT_USAGE,
  type Variant,
} from './variants.js';

const USAGE = `usage: node dist/bench/boot.js [options]
  --rounds N             interleaved rounds (default 3)
  --kernel FILE          the default guest's kernel (default images/linux/Image.gz)
  --initrd FILE          initramfs for every row (default images/linux/initramfs.cpio.gz)
  --debian-kernel FILE   Debian's stock kernel (default build/linux/debian-kernel/Image; its rows
                         are left out when the file is missing: images/linux/debian-kernel.sh fetches it)
  --opensbi FILE         firmware of the like-for-like rows (default ${DEBIAN_OPENSBI})
  --rows a,b             only these rows: default/builtin, default/opensbi, debian/builtin, debian/opensbi
  --mem SIZE             guest RAM on both sides (default 256M)
  --idle-seconds S       how long to watch an idle guest's host CPU (default 5; 0: skip)
  --no-workload          skip the in-guest sha256sum
  --no-qemu              Typervisor only
  --json FILE            also write all samples to FILE
${VARIANT_USAGE}`;

const WORKLOAD = 'dd if=/dev/zero bs=1M count=8 2>/dev/null | sha256sum';
const WORKLOAD_DIGEST = '2daeb1f36095b44b318410b3f4e8b5d989dcc7bb023d1426c492dab0a3053e74';

interface Sample {
  bootSeconds: number;
  workloadSeconds: number;
  idleCpuPercent: number;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux hosts). */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function measure(
  label: string,
  command: string,
  args: string[],
  opts: { workload: boolean; idleSeconds: number },
): Promise<Sample> {
  const started = performance.now();
  const guest = new ChildVm(label, command, args);
  try {
    await guest.waitFor(PROMPT, 600_000);
    const bootSeconds = (performance.now() - started) / 1000;
    let workloadSeconds = Number.NaN;
    if (opts.workload) {
      const before = performance.now();
      guest.send(`${WORKLOAD}\n`);
      const out = await guest.waitFor(PROMPT, 600_000);
      workloadSeconds = (performance.now() - before) / 1000;
      if (!out.includes(WORKLOAD_DIGEST))
        throw new Error(`${label}: the in-guest workload printed the wrong digest:\n${out}`);
    }
    // Idle: the guest sits at its prompt; what CPU does the host spend on it?
    let idleCpuPercent = Number.NaN;
    if (opts.idleSeconds > 0) {
      const cpu0 = cpuSeconds(guest.child.pid ?? -1);
      await new Promise((r) => setTimeout(r, opts.idleSeconds * 1000));
      idleCpuPercent = ((cpuSeconds(guest.child.pid ?? -1) - cpu0) / opts.idleSeconds) * 100;
    }
    guest.send('poweroff -f\n');
    await Promise.race([guest.exited, new Promise((r) => setTimeout(r, 3000))]);
    return { bootSeconds, workloadSeconds, idleCpuPercent };
  } finally {
    guest.kill();
  }
}

interface Emulator {
  /** "QEMU" or a variant's label. */
  name: string;
  command: string;
  args: string[];
  samples: Sample[];
}

interface Row {
  kernel: 'default' | 'debian';
  firmware: 'builtin' | 'opensbi';
  emulators: Emulator[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...VARIANT_OPTIONS,
      rounds: { type: 'string', default: '3' },
      kernel: { type: 'string', default: join(ROOT, 'images', 'linux', 'Image.gz') },
      initrd: { type: 'string', default: join(ROOT, 'images', 'linux', 'initramfs.cpio.gz') },
      'debian-kernel': { type: 'string', default: join(ROOT, 'build', 'linux', 'debian-kernel', 'Image') },
      opensbi: { type: 'string', default: DEBIAN_OPENSBI },
      rows: { type: 'string' },
      mem: { type: 'string', default: '256M' },
      'idle-seconds': { type: 'string', default: '5' },
      'no-workload': { type: 'boolean', default: false },
      'no-qemu': { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const idleSeconds = Number(values['idle-seconds']);
  if (!(idleSeconds >= 0)) throw new Error('--idle-seconds must be a number of seconds');
  for (const f of [values.kernel, values.initrd]) {
    if (!existsSync(f)) throw new Error(`${f} is missing (images/linux/build.sh builds the default guest)`);
  }
  const variants: Variant[] = resolveVariants(values);

  const wanted = values.rows?.split(',').map((s) => s.trim());
  const allRows = ['default/builtin', 'default/opensbi', 'debian/builtin', 'debian/opensbi'];
  for (const r of wanted ?? []) {
    if (!allRows.includes(r)) throw new Error(`--rows: unknown row '${r}' (have: ${allRows.join(', ')})`);
  }
  const notes: string[] = [];
  const haveDebian = existsSync(values['debian-kernel']);
  if (!haveDebian) {
    notes.push(
      `${values['debian-kernel']} is missing: no Debian kernel rows (images/linux/debian-kernel.sh fetches it)`,
    );
  }
  const haveOpenSbi = existsSync(values.opensbi);
  if (!haveOpenSbi) notes.push(`${values.opensbi} is missing: no OpenSBI rows (Debian package opensbi)`);

  const work = mkdtempSync(join(tmpdir(), 'typervisor-boot-'));
  try {
    const kernels = {
      default: rawKernel(values.kernel, work),
      debian: haveDebian ? rawKernel(values['debian-kernel'], work) : '',
    };
    const rows: Row[] = [];
    for (const name of allRows) {
      const [kernel, firmware] = name.split('/') as [Row['kernel'], Row['firmware']];
      if (wanted && !wanted.includes(name)) continue;
      if (kernel === 'debian' && !haveDebian) continue;
      if (firmware === 'opensbi' && !haveOpenSbi) continue;
      const file = kernels[kernel];
      const tvArgs = ['--kernel', file, '--initrd', values.initrd, '--mem', values.mem];
      if (firmware === 'opensbi') tvArgs.push('--bios', values.opensbi);
      const emulators: Emulator[] = [];
      if (!values['no-qemu']) {
        emulators.push({
          name: 'QEMU',
          command: 'qemu-system-riscv64',
          args: qemuVirtArgs(file, values.initrd, {
            mem: values.mem,
            bios: firmware === 'opensbi' ? values.opensbi : 'default',
          }),
          samples: [],
        });
      }
      for (const v of variants) {
        const { command, args } = typervisorCommand(v, 'run', tvArgs);
        emulators.push({ name: v.label, command, args, samples: [] });
      }
      rows.push({ kernel, firmware, emulators });
    }
    if (rows.length === 0) throw new Error('no rows to measure');

    const loadStart = loadavg()[0];
    console.log(`boot benchmark: ${rounds} rounds, load average ${loadStart.toFixed(2)}`);
    console.log(`Typervisor variants:\n  ${describeVariants(variants)}`);
    for (const n of notes) console.log(`note: ${n}`);
    for (let round = 0; round < rounds; round++) {
      for (const row of rows) {
        const n = row.emulators.length;
        // Rotate the order each round, so that no emulator always runs first on a cooler machine.
        for (let k = 0; k < n; k++) {
          const emu = row.emulators[(k + round) % n];
          const s = await measure(emu.name, emu.command, emu.args, {
            workload: !values['no-workload'],
            idleSeconds,
          });
          emu.samples.push(s);
          console.log(
            `  round ${round + 1} ${`${row.kernel}/${row.firmware}`.padEnd(16)} ${emu.name.padEnd(12)} boot ${s.bootSeconds.toFixed(2)} s, sha256 of 8 MiB ${fmt(s.workloadSeconds, 2)} s, idle CPU ${fmt(s.idleCpuPercent, 1)}%, load ${loadavg()[0].toFixed(2)}`,
          );
        }
      }
    }
    const loadEnd = loadavg()[0];

    const kernelName = { default: 'Linux 6.1 (default guest)', debian: 'Debian 6.12 stock' };
    const firmwareName = {
      builtin: 'TV built-in SBI, QEMU its OpenSBI',
      opensbi: 'OpenSBI (Debian) on both',
    };
    const table: string[][] = [];
    const summary = rows.map((row) => {
      const q = row.emulators.find((e) => e.name === 'QEMU');
      const qBoot = q ? median(q.samples.map((s) => s.bootSeconds)) : Number.NaN;
      const qWork = q ? median(q.samples.map((s) => s.workloadSeconds)) : Number.NaN;
      const emulators = row.emulators.map((e) => {
        const boot = median(e.samples.map((s) => s.bootSeconds));
        const work = median(e.samples.map((s) => s.workloadSeconds));
        const idle = median(e.samples.map((s) => s.idleCpuPercent));
        const isQemu = e === q;
        table.push([
          kernelName[row.kernel],
          firmwareName[row.firmware],
          e.name,
          fmt(boot, 2),
          isQemu ? '' : fmt(boot / qBoot, 2),
          fmt(work, 2),
          isQemu ? '' : fmt(work / qWork, 2),
          `${fmt(idle, 1)}%`,
        ]);
        return {
          emulator: e.name,
          bootSeconds: boot,
          workloadSeconds: work,
          idleCpuPercent: idle,
          samples: e.samples,
        };
      });
      return { kernel: row.kernel, firmware: row.firmware, emulators };
    });
    console.log(
      `\nMedians of ${rounds} interleaved round(s), load average ${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end.`,
    );
    console.log('Times: process start to the shell prompt, and the in-guest `dd ... | sha256sum` of 8 MiB.');
    console.log('x QEMU = Typervisor time / QEMU time in the same row (lower is better).\n');
    printTable(
      ['kernel', 'firmware', 'emulator', 'boot s', 'x QEMU', 'sha256 8 MiB s', 'x QEMU', 'idle CPU'],
      table,
      3,
    );
    if (values.json) {
      writeFileSync(
        values.json,
        `${JSON.stringify(
          {
            date: new Date().toISOString(),
            variants: variants.map((v) => ({ label: v.label, node: v.node.version, flags: v.flags })),
            loadAverage: { start: loadStart, end: loadEnd },
            rounds,
            rows: summary,
          },
          null,
          2,
        )}\n`,
      );
      console.log(`\nWrote ${values.json}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench:boot: ${(e as Error).message}`);
  process.exitCode = 1;
});
