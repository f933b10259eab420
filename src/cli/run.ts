/** `typervisor run`: boots a VM on the virt board with the terminal as its serial console. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { BootImageError } from '../machine/boot/kernel-image.js';
import { type NamedBytes, VirtMachine, type VirtMachineConfig } from '../machine/virt/virt-machine.js';
import { TerminalConsole } from './console.js';

export interface RunOptions {
  kernel?: string;
  initrd?: string;
  append?: string;
  mem: number;
  smp: number;
  bios: string;
  dumpDtb?: string;
  /** Where the default guest lives (used when no kernel is given). */
  defaultKernel: string;
  defaultInitrd: string;
}

export const EXIT_ERROR = 125;

function load(path: string, what: string): NamedBytes {
  if (!existsSync(path)) throw new BootImageError(`${what} ${path}: no such file`);
  try {
    return { name: path, bytes: readFileSync(path) };
  } catch (e) {
    throw new BootImageError(`${what} ${path}: ${(e as Error).message}`);
  }
}

export function machineConfig(options: RunOptions): VirtMachineConfig {
  const usingDefault = options.kernel === undefined && options.bios !== 'none';
  const kernelPath = options.kernel ?? (usingDefault ? options.defaultKernel : undefined);
  const initrdPath = options.initrd ?? (usingDefault ? options.defaultInitrd : undefined);
  const bios =
    options.bios === 'builtin' || options.bios === 'none'
      ? options.bios
      : load(options.bios, 'firmware (--bios)');
  return {
    ramSize: options.mem,
    harts: options.smp,
    bios,
    kernel: kernelPath ? load(kernelPath, 'kernel') : undefined,
    initrd: initrdPath ? load(initrdPath, 'initrd') : undefined,
    bootargs: options.append ?? 'console=ttyS0',
  };
}

export async function runVm(options: RunOptions): Promise<number> {
  let machine: VirtMachine;
  try {
    machine = new VirtMachine(machineConfig(options));
  } catch (e) {
    if (e instanceof BootImageError || e instanceof RangeError) {
      process.stderr.write(`typervisor: ${e.message}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }
  if (options.dumpDtb) {
    writeFileSync(options.dumpDtb, machine.dtb);
    return 0;
  }
  const terminal = new TerminalConsole({
    input: (bytes) => machine.sendInput(bytes),
    quit: () => machine.powerOff(),
  });
  machine.onOutput = (bytes) => terminal.write(bytes);
  terminal.attach();
  let exit: Awaited<ReturnType<VirtMachine['run']>>;
  try {
    exit = await machine.run();
  } finally {
    terminal.detach();
  }
  switch (exit.kind) {
    case 'poweroff':
      return exit.code;
    case 'stopped':
      return 0;
    default:
      process.stderr.write(`\r\ntypervisor: ${exit.message}\n`);
      return 1;
  }
}
