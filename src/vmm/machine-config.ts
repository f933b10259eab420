/** A VM's board configuration from where its kernel, initrd and firmware live (files are read here). */
import { existsSync, readFileSync } from 'node:fs';
import { BootImageError } from '../machine/boot/kernel-image.js';
import type { NamedBytes, VirtMachineConfig } from '../machine/virt/virt-machine.js';

export interface BootOptions {
  kernel?: string;
  initrd?: string;
  append?: string;
  mem: number;
  smp: number;
  /** 'builtin', 'none' or a firmware file. */
  bios: string;
  /** Where the default guest lives (used when no kernel is given). */
  defaultKernel: string;
  defaultInitrd: string;
}

function load(path: string, what: string): NamedBytes {
  if (!existsSync(path)) throw new BootImageError(`${what} ${path}: no such file`);
  try {
    return { name: path, bytes: readFileSync(path) };
  } catch (e) {
    throw new BootImageError(`${what} ${path}: ${(e as Error).message}`);
  }
}

export function machineConfig(options: BootOptions): VirtMachineConfig {
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
