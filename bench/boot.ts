/**
 * Boot benchmark: boots the same kernel and initramfs on Typervisor and on qemu-system-riscv64 (both
 * through their default firmware: Typervisor's built-in SBI, QEMU's OpenSBI), measures the wall time
 * from process start to the shell prompt, then times an in-guest CPU workload on both, and the host
 * CPU an idle guest costs at its prompt. Rounds are interleaved so both see the same machine load.
 *
 * Usage: node dist/bench/boot.js [--rounds N] [--kernel Image(.gz)] [--initrd F] [--no-qemu]
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ChildVm, PROMPT } from '../test/machine/guest-session.js';
import { qemuVirtArgs, rawKernelForQemu } from './qemu-virt.js';
import { median } from './stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
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

async function measure(command: string, args: string[]): Promise<Sample> {
  const started = performance.now();
  const guest = new ChildVm(command, command, args);
  try {
    await guest.waitFor(PROMPT, 600_000);
    const bootSeconds = (performance.now() - started) / 1000;
    const before = performance.now();
    guest.send(`${WORKLOAD}\n`);
    const out = await guest.waitFor(PROMPT, 600_000);
    const workloadSeconds = (performance.now() - before) / 1000;
    if (!out.includes(WORKLOAD_DIGEST))
      throw new Error(`the in-guest workload printed the wrong digest:\n${out}`);
    // Idle: the guest sits at its prompt for 5 s; what CPU does the host spend on it?
    const cpu0 = cpuSeconds(guest.child.pid ?? -1);
    await new Promise((r) => setTimeout(r, 5000));
    const idleCpuPercent = ((cpuSeconds(guest.child.pid ?? -1) - cpu0) / 5) * 100;
    guest.send('poweroff -f\n');
    return { bootSeconds, workloadSeconds, idleCpuPercent };
  } finally {
    setTimeout(() => guest.kill(), 3000).unref();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      kernel: { type: 'string', default: join(ROOT, 'images', 'linux', 'Image.gz') },
      initrd: { type: 'string', default: join(ROOT, 'images', 'linux', 'initramfs.cpio.gz') },
      'no-qemu': { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  for (const f of [values.kernel, values.initrd]) {
    if (!existsSync(f)) throw new Error(`${f} is missing (images/linux/build.sh builds the default guest)`);
  }
  const qemuKernel = rawKernelForQemu(values.kernel);
  const cli = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const runs: Record<string, { command: string; args: string[]; samples: Sample[] }> = {
    typervisor: {
      command: process.execPath,
      args: [cli, 'run', '--kernel', values.kernel, '--initrd', values.initrd, '--mem', '256M'],
      samples: [],
    },
  };
  if (!values['no-qemu']) {
    runs.qemu = {
      command: 'qemu-system-riscv64',
      args: qemuVirtArgs(qemuKernel, values.initrd),
      samples: [],
    };
  }
  console.log(`boot benchmark: ${rounds} rounds, load average ${loadavg()[0].toFixed(2)}`);
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(runs)) {
      const s = await measure(run.command, run.args);
      run.samples.push(s);
      console.log(
        `  round ${round + 1} ${name.padEnd(10)} boot ${s.bootSeconds.toFixed(2)} s, sha256 of 8 MiB ${s.workloadSeconds.toFixed(2)} s, idle CPU ${s.idleCpuPercent.toFixed(1)}%`,
      );
    }
  }
  const rows = Object.entries(runs).map(([name, run]) => ({
    name,
    boot: median(run.samples.map((s) => s.bootSeconds)),
    work: median(run.samples.map((s) => s.workloadSeconds)),
    idle: median(run.samples.map((s) => s.idleCpuPercent)),
  }));
  console.log('\n| emulator | boot to prompt (s) | sha256sum of 8 MiB (s) | idle CPU at prompt |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows)
    console.log(`| ${r.name} | ${r.boot.toFixed(2)} | ${r.work.toFixed(2)} | ${r.idle.toFixed(1)}% |`);
  if (rows.length === 2) {
    const [t, q] = rows;
    console.log(
      `\nTypervisor/QEMU time ratio: boot ${(t.boot / q.boot).toFixed(2)}x, workload ${(t.work / q.work).toFixed(2)}x (lower is better)`,
    );
  }
}

main().catch((e) => {
  console.error(`bench:boot: ${(e as Error).message}`);
  process.exitCode = 1;
});
