#!/usr/bin/env node
/** The `typervisor` command line. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { FlagError, parseConsolePort, parseDisk, parseNet, parseShare } from './device-flags.js';
import { jitOption, jitOptions, jitThresholdOption } from './jit-flags.js';
import { type RunOptions, runVm } from './run.js';
import { runElf } from './run-elf.js';
import { registerServe } from './serve.js';
import { parseCount, parseSize } from './sizes.js';
import { registerVmCommands } from './vm-commands.js';

function option<T>(parse: (text: string, what: string) => T, what: string) {
  return (text: string): T => {
    try {
      return parse(text, what);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

/** The repository root, found from this file's place in dist/src/cli/. */
function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** A repeatable flag: each occurrence is parsed and appended. */
function repeatable<T>(parse: (text: string) => T) {
  return (text: string, previous: T[] | undefined): T[] => {
    try {
      return [...(previous ?? []), parse(text)];
    } catch (e) {
      if (e instanceof FlagError) throw new InvalidArgumentError(e.message);
      throw e;
    }
  };
}

const program = new Command();
program.name('typervisor').description('A RISC-V RV64GC virtual machine monitor').showHelpAfterError();

program
  .command('run-elf')
  .description("run a bare-metal ELF (HTIF tohost/fromhost, as on Spike); exit status = the program's code")
  .argument('<file>', 'ELF64 RISC-V program')
  .option(
    '--max-insns <n>',
    'stop with an error after this many instructions',
    option(parseCount, '--max-insns'),
    10e9,
  )
  .option('--mem <size>', 'RAM size at 0x80000000', option(parseSize, '--mem'), 256 * 1024 * 1024)
  .option('--trace', 'print privilege, pc and instruction bits of every instruction to stderr', false)
  .option('--stats', 'print {"instructions","seconds","mips"} as JSON to stderr at the end', false)
  .addOption(jitOption())
  .addOption(jitThresholdOption())
  .action(
    (
      file: string,
      opts: {
        maxInsns: number;
        mem: number;
        trace: boolean;
        stats: boolean;
        jit: boolean;
        jitThreshold?: number;
      },
    ) => {
      process.exitCode = runElf(file, {
        maxInstructions: opts.maxInsns,
        ramSize: opts.mem,
        trace: opts.trace,
        stats: opts.stats,
        jit: jitOptions(opts.jit, opts.jitThreshold),
      });
    },
  );

program
  .command('run', { isDefault: false })
  .description('boot a VM on the virt board; the terminal is its serial console (Ctrl-A x quits)')
  .option(
    '--kernel <file>',
    'Linux Image, gzip-compressed Image, ELF vmlinux or raw binary (default: the bundled guest)',
  )
  .option('--initrd <file>', 'initial RAM disk')
  .option('--append <cmdline>', 'kernel command line', 'console=ttyS0')
  .option('--mem <size>', 'RAM size', option(parseSize, '--mem'), 256 * 1024 * 1024)
  .option(
    '--smp <n>',
    'number of harts',
    option((t, w) => parseCount(t, w), '--smp'),
    1,
  )
  .option(
    '--bios <builtin|none|file>',
    'firmware: built-in SBI, none (kernel in M-mode), or an M-mode image such as OpenSBI fw_dynamic.bin',
    'builtin',
  )
  .option('--dump-dtb <file>', 'write the devicetree blob and exit')
  .option(
    '--disk <path[,ro][,serial=S]>',
    'virtio-blk disk on a raw image file (repeatable)',
    repeatable(parseDisk),
  )
  .option(
    '--net <switch=NAME|socket=HOST:PORT|listen=[HOST:]PORT>[,mac=MAC]',
    'virtio-net NIC on an in-process switch or a QEMU-compatible stream socket (repeatable)',
    repeatable(parseNet),
  )
  .option(
    '--share <path,tag=T[,ro]>',
    'share a host folder over virtio-9p (repeatable)',
    repeatable(parseShare),
  )
  .option(
    '--port <name[,socket=PATH]>',
    'extra virtio-console port, optionally a Unix socket the host connects to (repeatable)',
    repeatable(parseConsolePort),
  )
  .option('--rng', 'virtio-rng entropy device fed by the host')
  .addOption(jitOption())
  .addOption(jitThresholdOption())
  .option(
    '--console <serial|virtio>',
    'the terminal is the UART (ttyS0) or a virtio console (hvc0: boot with --append console=hvc0)',
    option((t) => {
      if (t !== 'serial' && t !== 'virtio') throw new Error(`--console: '${t}' is not serial or virtio`);
      return t;
    }, '--console'),
    'serial',
  )
  .action(
    async (
      opts: Omit<RunOptions, 'defaultKernel' | 'defaultInitrd' | 'jit'> & {
        jit: boolean;
        jitThreshold?: number;
      },
    ) => {
      process.exitCode = await runVm({
        ...opts,
        jit: jitOptions(opts.jit, opts.jitThreshold),
        defaultKernel: join(packageRoot(), 'images', 'linux', 'Image.gz'),
        defaultInitrd: join(packageRoot(), 'images', 'linux', 'initramfs.cpio.gz'),
      });
    },
  );

program
  .command('demo')
  .description('run the bundled bare-metal demo program')
  .action(() => {
    const demo = join(packageRoot(), 'images', 'demo', 'demo.elf');
    if (!existsSync(demo)) {
      process.stderr.write(
        `typervisor: the demo program ${demo} is missing (scripts/build-baremetal.sh builds it)\n`,
      );
      process.exitCode = 125;
      return;
    }
    process.exitCode = runElf(demo, {
      maxInstructions: 10e9,
      ramSize: 64 * 1024 * 1024,
      trace: false,
      stats: true,
      jit: false,
    });
  });

registerServe(program);
registerVmCommands(program);

await program.parseAsync();
