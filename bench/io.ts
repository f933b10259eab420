/**
 * I/O benchmark: in-guest throughput of virtio-blk (sequential direct I/O with dd) and of VM-to-VM TCP
 * (busybox httpd to wget), on qemu-system-riscv64 and on one or more Typervisor variants (variants.ts),
 * with the same kernel, initramfs, RAM, image size and devices (QEMU's virtio-mmio in its modern layout,
 * as ours). Throughput is bytes over the time the guest's own `time` measured, so boot time and console
 * latency do not count.
 *
 * Disk, like for like on the host side:
 *   - Both emulators go through the host's page cache: Typervisor's raw-file backend opens the image
 *     without O_DIRECT and turns a guest flush into fdatasync, and QEMU gets `cache=writeback` (its
 *     default: no O_DIRECT, flush = fdatasync), not `cache=none` (O_DIRECT), which it had before.
 *   - The write pass ends with a guest flush (dd conv=fsync), so both sides write to the host's disk.
 *   - Before the read pass the host drops the image from its page cache (GNU dd's oflag=nocache, which
 *     calls posix_fadvise(POSIX_FADV_DONTNEED) after fdatasync), and fincore checks that it is gone: the
 *     read pass reads from the disk, not the pages the write pass left behind. Image files live in
 *     --dir, which must be on a disk file system (tmpfs has no cache to drop).
 *
 * Network: Typervisor is measured twice, two VMs on one in-process switch (one host thread runs both;
 * run by io-switch.js under each Node measured) and two VM processes joined by the stream-socket
 * backend; QEMU runs two processes joined by `-netdev socket`, the same wire format.
 *
 * Usage: node dist/bench/io.js [options]   (see USAGE)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChildVm, PROMPT } from '../test/machine/guest-session.js';
import { rate, shell, tcpRate } from './io-guest.js';
import { qemuVirtArgs, rawKernel } from './qemu-virt.js';
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

const USAGE = `usage: node dist/bench/io.js [options]
  --rounds N      interleaved rounds (default 3)
  --blk-mib N     MiB per disk transfer (default 128)
  --net-mib N     MiB per TCP transfer (default 32)
  --dir DIR       where the disk images go, on a disk file system (default: the system's temp folder)
  --no-qemu       Typervisor only
  --no-net        disk only
  --json FILE     also write all samples to FILE
${VARIANT_USAGE}
  (the in-process switch row runs each Node without the variant's flags: it is not a CLI run)`;

const KERNEL = join(ROOT, 'images', 'linux', 'Image.gz');
const INITRD = join(ROOT, 'images', 'linux', 'initramfs.cpio.gz');
const SWITCH_SCRIPT = join(ROOT, 'dist', 'bench', 'io-switch.js');

/** Asks a guest to power off, and pulls the plug if it does not within 3 s; resolves once it is gone. */
async function stop(vm: ChildVm): Promise<void> {
  vm.send('poweroff -f\n');
  await Promise.race([vm.exited, new Promise((r) => setTimeout(r, 3000))]);
  vm.kill();
}

/** The file system type of `dir` (stat -f), or '' when it cannot be told. */
function fsType(dir: string): string {
  const r = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** Bytes of `file` in the host's page cache (fincore, util-linux), or NaN without fincore. */
function residentBytes(file: string): number {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : Number.NaN;
}

/**
 * Writes back and evicts `file`'s pages from the host's page cache: GNU dd with oflag=nocache and
 * count=0 fdatasyncs the file and then advises POSIX_FADV_DONTNEED over all of it.
 */
function dropFromPageCache(file: string): number {
  const r = spawnSync(
    'dd',
    [`of=${file}`, 'oflag=nocache', 'conv=notrunc,fdatasync', 'count=0', 'status=none'],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`dd oflag=nocache on ${file} failed: ${r.stderr || r.error?.message}`);
  return residentBytes(file);
}

interface BlockResult {
  write: number;
  read: number;
  /** Bytes of the image in the host's page cache after the write pass, and after dropping them. */
  residentAfterWrite: number;
  residentBeforeRead: number;
}

async function blockRates(start: () => ChildVm, image: string, mib: number): Promise<BlockResult> {
  const vm = start();
  try {
    await vm.waitFor(PROMPT, 300_000);
    const bytes = mib * 2 ** 20;
    const guest = shell(vm);
    const write = rate(
      await guest.command(`time dd if=/dev/zero of=/dev/vda bs=1M count=${mib} oflag=direct conv=fsync 2>&1`),
      bytes,
    );
    const residentAfterWrite = residentBytes(image);
    const residentBeforeRead = dropFromPageCache(image);
    const read = rate(
      await guest.command(`time dd if=/dev/vda of=/dev/null bs=1M count=${mib} iflag=direct 2>&1`),
      bytes,
    );
    return { write, read, residentAfterWrite, residentBeforeRead };
  } finally {
    await stop(vm);
  }
}

async function tcpOverProcesses(
  command: string,
  argsFor: (side: 'listen' | 'connect') => string[],
  mib: number,
): Promise<number> {
  const a = new ChildVm('listening VM', command, argsFor('listen'));
  await new Promise((r) => setTimeout(r, 500));
  const b = new ChildVm('connecting VM', command, argsFor('connect'));
  try {
    await Promise.all([a.waitFor(PROMPT, 300_000), b.waitFor(PROMPT, 300_000)]);
    return await tcpRate(shell(a), shell(b), mib);
  } finally {
    await Promise.all([stop(a), stop(b)]);
  }
}

/** The in-process switch measurement, run by io-switch.js under the variant's Node. */
function tcpOverSwitch(variant: Variant, mib: number): number {
  const r = spawnSync(variant.node.path, [SWITCH_SCRIPT, '--mib', String(mib)], {
    encoding: 'utf8',
    timeout: 900_000,
  });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  try {
    const { mbps } = JSON.parse(last) as { mbps: number };
    if (typeof mbps === 'number') return mbps;
  } catch {
    // Reported below.
  }
  throw new Error(`io-switch.js on ${variant.label} failed (status ${r.status}):\n${r.stderr}${r.stdout}`);
}

const WORKLOADS = [
  'blk sequential write',
  'blk sequential read',
  'TCP VM-to-VM (switch)',
  'TCP VM-to-VM (socket)',
] as const;
type Workload = (typeof WORKLOADS)[number];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...VARIANT_OPTIONS,
      rounds: { type: 'string', default: '3' },
      'blk-mib': { type: 'string', default: '128' },
      'net-mib': { type: 'string', default: '32' },
      dir: { type: 'string', default: tmpdir() },
      'no-qemu': { type: 'boolean', default: false },
      'no-net': { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const rounds = Number(values.rounds);
  const blkMib = Number(values['blk-mib']);
  const netMib = Number(values['net-mib']);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const variants = resolveVariants(values);
  const qemu = !values['no-qemu'];

  mkdirSync(values.dir, { recursive: true });
  const fs = fsType(values.dir);
  if (fs === 'tmpfs' || fs === 'ramfs') {
    throw new Error(
      `--dir ${values.dir} is on ${fs}: its pages cannot be dropped, so the read pass would read RAM; use a disk file system`,
    );
  }
  const work = mkdtempSync(join(values.dir, 'typervisor-io-'));
  try {
    const kernel = rawKernel(KERNEL, work);
    const image = (name: string): string => {
      const path = join(work, name);
      writeFileSync(path, new Uint8Array(0));
      truncateSync(path, 2 * blkMib * 2 ** 20);
      return path;
    };
    // QEMU as Typervisor: same guest, virtio-mmio in the modern layout (QEMU 7.2 defaults to legacy).
    const qemuBase = [...qemuVirtArgs(kernel, INITRD), '-global', 'virtio-mmio.force-legacy=false'];
    // The guest every Typervisor run boots, as QEMU's does: the same kernel file, initramfs and RAM.
    const guestArgs = ['--kernel', kernel, '--initrd', INITRD, '--mem', '256M'];

    const results = new Map<string, Map<Workload, number[]>>();
    const resident: number[] = [];
    const residentAfterWrite: number[] = [];
    const record = (who: string, what: Workload, value: number): void => {
      const byWhat = results.get(who) ?? new Map<Workload, number[]>();
      results.set(who, byWhat);
      byWhat.set(what, [...(byWhat.get(what) ?? []), value]);
      console.log(
        `  ${who.padEnd(16)} ${what.padEnd(24)} ${value.toFixed(1)} MB/s   (load ${loadavg()[0].toFixed(2)})`,
      );
    };
    const loadStart = loadavg()[0];
    console.log(
      `I/O benchmark: ${rounds} rounds, ${blkMib} MiB per disk transfer, ${netMib} MiB per TCP transfer, images in ${work} (${fs || 'unknown file system'}), load average ${loadStart.toFixed(2)}`,
    );
    console.log(`Typervisor variants:\n  ${describeVariants(variants)}`);

    let port = 20000 + Math.floor(Math.random() * 20000);
    const who = [...(qemu ? ['QEMU'] : []), ...variants.map((v) => v.label)];
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round, so that no emulator always runs first on a cooler machine.
      const order = who.map((_, i) => who[(i + round) % who.length]);
      for (const name of order) {
        const variant = variants.find((v) => v.label === name);
        const img = image(`${name.replace(/\W/g, '_')}-${round}.img`);
        const start = (): ChildVm => {
          if (!variant) {
            return new ChildVm('qemu', 'qemu-system-riscv64', [
              ...qemuBase,
              '-drive',
              `file=${img},format=raw,if=none,id=d0,cache=writeback`,
              '-device',
              'virtio-blk-device,drive=d0',
            ]);
          }
          const { command, args } = typervisorCommand(variant, 'run', [...guestArgs, '--disk', img]);
          return new ChildVm(name, command, args);
        };
        const blk = await blockRates(start, img, blkMib);
        rmSync(img, { force: true });
        resident.push(blk.residentBeforeRead);
        residentAfterWrite.push(blk.residentAfterWrite);
        record(name, 'blk sequential write', blk.write);
        record(name, 'blk sequential read', blk.read);
        if (values['no-net']) continue;
        if (variant) record(name, 'TCP VM-to-VM (switch)', tcpOverSwitch(variant, netMib));
        const p = port++;
        const viaSocket = variant
          ? await tcpOverProcesses(
              variant.node.path,
              (side) =>
                typervisorCommand(variant, 'run', [
                  ...guestArgs,
                  '--net',
                  side === 'listen'
                    ? `listen=127.0.0.1:${p},mac=52:54:00:00:0a:01`
                    : `socket=127.0.0.1:${p},mac=52:54:00:00:0a:02`,
                ]).args,
              netMib,
            )
          : await tcpOverProcesses(
              'qemu-system-riscv64',
              (side) => [
                ...qemuBase,
                '-netdev',
                side === 'listen'
                  ? `socket,id=n0,listen=127.0.0.1:${p}`
                  : `socket,id=n0,connect=127.0.0.1:${p}`,
                '-device',
                `virtio-net-device,netdev=n0,mac=52:54:00:00:0b:0${side === 'listen' ? 1 : 2}`,
              ],
              netMib,
            );
        record(name, 'TCP VM-to-VM (socket)', viaSocket);
      }
    }
    const loadEnd = loadavg()[0];

    const table: string[][] = [];
    for (const what of WORKLOADS) {
      // QEMU has no in-process switch: its socket figure is the reference for both TCP rows.
      const qSamples = results
        .get('QEMU')
        ?.get(what === 'TCP VM-to-VM (switch)' ? 'TCP VM-to-VM (socket)' : what);
      const q = qSamples ? median(qSamples) : Number.NaN;
      for (const name of who) {
        const samples = results.get(name)?.get(what);
        if (!samples) continue;
        const v = median(samples);
        table.push([what, name, fmt(v, 1), name === 'QEMU' ? '' : fmt(v / q, 3)]);
      }
    }
    console.log(
      `\nMedians of ${rounds} interleaved round(s), load average ${loadStart.toFixed(2)} at the start, ${loadEnd.toFixed(2)} at the end.`,
    );
    console.log(
      `Host page cache: both emulators use it. After the write pass it held ${fmt(median(residentAfterWrite) / 2 ** 20, 1)} MiB of the image (median); ` +
        `dropped before the read pass, at most ${fmt(Math.max(...resident) / 2 ** 20, 2)} MiB remained.`,
    );
    console.log(
      'x QEMU = MB/s / QEMU MB/s (higher is better; the switch row compares with QEMU over a socket).\n',
    );
    printTable(['workload', 'emulator', 'MB/s', 'x QEMU'], table, 2);
    if (values.json) {
      writeFileSync(
        values.json,
        `${JSON.stringify(
          {
            date: new Date().toISOString(),
            variants: variants.map((v) => ({ label: v.label, node: v.node.version, flags: v.flags })),
            loadAverage: { start: loadStart, end: loadEnd },
            rounds,
            blkMib,
            netMib,
            residentAfterWriteBytes: residentAfterWrite,
            residentBeforeReadBytes: resident,
            results: Object.fromEntries([...results].map(([k, m]) => [k, Object.fromEntries(m)])),
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
  console.error(`bench:io: ${(e as Error).message}`);
  process.exitCode = 1;
});
