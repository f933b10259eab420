/**
 * I/O benchmark: in-guest throughput of virtio-blk (sequential direct I/O with dd) and of VM-to-VM TCP
 * (busybox httpd to wget), on Typervisor and on qemu-system-riscv64 with the same kernel, initramfs, image size and
 * devices (QEMU's virtio-mmio in its modern layout, as ours). Throughput is bytes over the time the
 * guest's own `time` measured, so boot time and console latency do not count.
 *
 * Network: Typervisor is measured twice, two VMs on one in-process switch (one host thread runs both)
 * and two VM processes joined by the stream-socket backend; QEMU runs two processes joined by
 * `-netdev socket`, the same wire format.
 *
 * Usage: node dist/bench/io.js [--rounds N] [--blk-mib N] [--net-mib N] [--no-qemu]
 *
 * Transfers are large enough for busybox `time`'s 10 ms resolution to matter little on QEMU too.
 */
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { VirtioNet } from '../src/machine/devices/virtio/net.js';
import { SwitchRegistry } from '../src/net/virtual-switch.js';
import { ChildVm, type ConsoleSession, PROMPT } from '../test/machine/guest-session.js';
import { InProcessVm } from '../test/machine/in-process-vm.js';
import { qemuVirtArgs, rawKernelForQemu } from './qemu-virt.js';
import { median } from './stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KERNEL = join(ROOT, 'images', 'linux', 'Image.gz');
const INITRD = join(ROOT, 'images', 'linux', 'initramfs.cpio.gz');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** A guest shell: runs a command, returns its output (long transfers get ten minutes). */
interface Shell {
  command(cmd: string): Promise<string>;
}

function shell(vm: ConsoleSession): Shell {
  return { command: (cmd) => vm.command(cmd, PROMPT, 600_000) };
}

/** Asks a guest to power off, and pulls the plug if it does not within 3 s. */
function stop(vm: ChildVm): void {
  vm.send('poweroff -f\n');
  setTimeout(() => vm.kill(), 3000).unref();
}

/** MB/s of `bytes` moved in the time busybox's `time` printed ("real\t0m 1.23s"). */
function rate(output: string, bytes: number): number {
  const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(output);
  if (!m) throw new Error(`no timing in the guest's output:\n${output}`);
  const seconds = Number(m[1]) * 60 + Number(m[2]);
  return bytes / 1e6 / Math.max(seconds, 0.01);
}

/** QEMU as Typervisor: same guest, virtio-mmio in the modern layout (QEMU 7.2 defaults to legacy). */
function qemuBase(kernel: string): string[] {
  return [...qemuVirtArgs(kernel, INITRD), '-global', 'virtio-mmio.force-legacy=false'];
}

async function blockRates(start: () => ChildVm, mib: number): Promise<{ write: number; read: number }> {
  const vm = start();
  try {
    await vm.waitFor(PROMPT, 300_000);
    const bytes = mib * 2 ** 20;
    const guest = shell(vm);
    const write = rate(
      await guest.command(`time dd if=/dev/zero of=/dev/vda bs=1M count=${mib} oflag=direct 2>&1`),
      bytes,
    );
    const read = rate(
      await guest.command(`time dd if=/dev/vda of=/dev/null bs=1M count=${mib} iflag=direct 2>&1`),
      bytes,
    );
    return { write, read };
  } finally {
    stop(vm);
  }
}

/**
 * Two guests already at their prompts: 10.0.0.2 serves `mib` MiB from tmpfs with busybox httpd and
 * 10.0.0.1 fetches it with wget (busybox nc copies through a small buffer: it measured nc, 10x slower on QEMU).
 */
async function tcpRate(a: Shell, b: Shell, mib: number): Promise<number> {
  await a.command('ip addr add 10.0.0.1/24 dev eth0; ip link set eth0 up');
  await b.command('ip addr add 10.0.0.2/24 dev eth0; ip link set eth0 up');
  await b.command(
    `mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/big bs=1M count=${mib} 2>/dev/null && httpd -p 8080 -h /tmp/www`,
  );
  await a.command('ping -c 1 -W 5 10.0.0.2 >/dev/null && echo linked');
  const out = await a.command('time wget -q -O /dev/null http://10.0.0.2:8080/big 2>&1');
  return rate(out, mib * 2 ** 20);
}

async function tcpOverProcesses(
  command: string,
  argsFor: (side: 'listen' | 'connect') => string[],
  mib: number,
) {
  const a = new ChildVm('listening VM', command, argsFor('listen'));
  await new Promise((r) => setTimeout(r, 500));
  const b = new ChildVm('connecting VM', command, argsFor('connect'));
  try {
    await Promise.all([a.waitFor(PROMPT, 300_000), b.waitFor(PROMPT, 300_000)]);
    return await tcpRate(shell(a), shell(b), mib);
  } finally {
    stop(a);
    stop(b);
  }
}

async function tcpOverSwitch(mib: number): Promise<number> {
  const switches = new SwitchRegistry();
  const vms = ['a', 'b'].map((name, i) => {
    const mac = Uint8Array.of(0x52, 0x54, 0, 0, 9, i + 1);
    return new InProcessVm(name, {
      virtio: [new VirtioNet(switches.get('bench').connect(name, mac), { mac })],
    });
  });
  try {
    await Promise.all(vms.map((vm) => vm.waitFor(PROMPT, 300_000)));
    return await tcpRate(shell(vms[0]), shell(vms[1]), mib);
  } finally {
    for (const vm of vms) vm.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      'blk-mib': { type: 'string', default: '128' },
      'net-mib': { type: 'string', default: '32' },
      'no-qemu': { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const blkMib = Number(values['blk-mib']);
  const netMib = Number(values['net-mib']);
  const work = mkdtempSync(join(tmpdir(), 'typervisor-io-'));
  const qemuKernel = rawKernelForQemu(KERNEL);
  const image = (name: string): string => {
    const path = join(work, name);
    writeFileSync(path, new Uint8Array(0));
    truncateSync(path, 2 * blkMib * 2 ** 20);
    return path;
  };

  const results: Record<string, Record<string, number[]>> = {};
  const record = (who: string, what: string, value: number): void => {
    results[who] ??= {};
    results[who][what] ??= [];
    results[who][what].push(value);
    console.log(`  ${who.padEnd(22)} ${what.padEnd(26)} ${value.toFixed(1)} MB/s`);
  };
  console.log(
    `I/O benchmark: ${rounds} rounds, ${blkMib} MiB per disk transfer, ${netMib} MiB per TCP transfer, load average ${loadavg()[0].toFixed(2)}`,
  );
  let port = 20000 + Math.floor(Math.random() * 20000);
  for (let round = 0; round < rounds; round++) {
    const tv = await blockRates(
      () =>
        new ChildVm('typervisor', process.execPath, [
          CLI,
          'run',
          '--mem',
          '256M',
          '--disk',
          image(`tv-${round}.img`),
        ]),
      blkMib,
    );
    record('typervisor', 'blk sequential write', tv.write);
    record('typervisor', 'blk sequential read', tv.read);
    if (!values['no-qemu']) {
      const q = await blockRates(
        () =>
          new ChildVm('qemu', 'qemu-system-riscv64', [
            ...qemuBase(qemuKernel),
            '-drive',
            `file=${image(`qemu-${round}.img`)},format=raw,if=none,id=d0,cache=none`,
            '-device',
            'virtio-blk-device,drive=d0',
          ]),
        blkMib,
      );
      record('qemu', 'blk sequential write', q.write);
      record('qemu', 'blk sequential read', q.read);
    }
    record('typervisor', 'TCP VM-to-VM (switch)', await tcpOverSwitch(netMib));
    const p1 = port++;
    record(
      'typervisor',
      'TCP VM-to-VM (socket)',
      await tcpOverProcesses(
        process.execPath,
        (side) => [
          CLI,
          'run',
          '--net',
          side === 'listen'
            ? `listen=127.0.0.1:${p1},mac=52:54:00:00:0a:01`
            : `socket=127.0.0.1:${p1},mac=52:54:00:00:0a:02`,
        ],
        netMib,
      ),
    );
    if (!values['no-qemu']) {
      const p2 = port++;
      record(
        'qemu',
        'TCP VM-to-VM (socket)',
        await tcpOverProcesses(
          'qemu-system-riscv64',
          (side) => [
            ...qemuBase(qemuKernel),
            '-netdev',
            side === 'listen'
              ? `socket,id=n0,listen=127.0.0.1:${p2}`
              : `socket,id=n0,connect=127.0.0.1:${p2}`,
            '-device',
            `virtio-net-device,netdev=n0,mac=52:54:00:00:0b:0${side === 'listen' ? 1 : 2}`,
          ],
          netMib,
        ),
      );
    }
  }

  const rows = [
    'blk sequential write',
    'blk sequential read',
    'TCP VM-to-VM (switch)',
    'TCP VM-to-VM (socket)',
  ];
  console.log('\n| workload (MB/s, median) | Typervisor | QEMU | Typervisor/QEMU |');
  console.log('|---|---:|---:|---:|');
  for (const what of rows) {
    const t = results.typervisor?.[what];
    const q =
      results.qemu?.[what] ?? (what.includes('switch') ? results.qemu?.['TCP VM-to-VM (socket)'] : undefined);
    const tv = t ? median(t) : Number.NaN;
    const qv = q ? median(q) : Number.NaN;
    const note = what.includes('switch') && q ? ' (QEMU: socket)' : '';
    console.log(`| ${what} | ${tv.toFixed(1)} | ${qv.toFixed(1)}${note} | ${(tv / qv).toFixed(3)} |`);
  }
}

main().catch((e) => {
  console.error(`bench:io: ${(e as Error).message}`);
  process.exitCode = 1;
});
