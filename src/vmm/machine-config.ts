/**
 * A VM's board configuration from where its kernel, initrd and firmware live (files are read here).
 *
 * Every file is bounded by the VM's RAM (it has to fit there) before a byte of it is read, and a
 * compressed kernel is inflated here with the same bound: a path to /dev/zero, a FIFO or a gzip bomb
 * ends as an error naming the file, never as a stalled or ballooning host process.
 */

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { JitOptions } from '../cpu/jit/jit.js';
import { BootImageError, gunzipKernel, isGzip } from '../machine/boot/kernel-image.js';
import type { NamedBytes, VirtMachineConfig } from '../machine/virt/virt-machine.js';
import { expectIdentity, fileKind } from '../storage/file-identity.js';

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
  /** "dev:ino" by path of files already checked by whoever chose them (the daemon): see file-identity.ts. */
  identities?: Record<string, string>;
  /** How messages name each file (the daemon says boot.kernel, the CLI --kernel). */
  labels?: { kernel: string; initrd: string; firmware: string };
  /** The compiled tier's options, or false for the interpreter alone (default: on). */
  jit?: JitOptions | false;
}

const CLI_LABELS = { kernel: 'kernel', initrd: 'initrd', firmware: 'firmware (--bios)' };
const NONBLOCK = constants.O_NONBLOCK ?? 0;
const NOCTTY = constants.O_NOCTTY ?? 0;

/**
 * Reads a whole regular file of at most `maxBytes`. The open does not wait (O_NONBLOCK: a FIFO would
 * otherwise block until a writer came), and the size is known from fstat before anything is allocated.
 */
export function readBootFile(path: string, what: string, maxBytes: number, identity?: string): Uint8Array {
  const fail = (why: string): never => {
    throw new BootImageError(`${what}: ${path}: ${why}`);
  };
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | NONBLOCK | NOCTTY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail(
      err.code === 'ENOENT'
        ? 'no such file'
        : err.code === 'ENXIO'
          ? 'not a regular file (a socket)'
          : err.message,
    );
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) fail(`not a regular file (${fileKind(st)})`);
    try {
      expectIdentity(path, st, identity);
    } catch (e) {
      fail((e as Error).message.slice(path.length + 2));
    }
    if (st.size > BigInt(maxBytes))
      fail(`${st.size} bytes, more than the ${Math.floor(maxBytes / 2 ** 20)} MiB of the VM's RAM`);
    const bytes = new Uint8Array(Number(st.size));
    let at = 0;
    // A file that shrinks meanwhile ends early; one that grows is read up to the size checked.
    while (at < bytes.length) {
      const n = readSync(fd, bytes, at, bytes.length - at, at);
      if (n === 0) break;
      at += n;
    }
    return at === bytes.length ? bytes : bytes.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

function load(path: string, what: string, maxBytes: number, identity?: string): NamedBytes {
  return { name: path, bytes: readBootFile(path, what, maxBytes, identity) };
}

export function machineConfig(options: BootOptions): VirtMachineConfig {
  const labels = options.labels ?? CLI_LABELS;
  const ids = options.identities ?? {};
  const usingDefault = options.kernel === undefined && options.bios !== 'none';
  const kernelPath = options.kernel ?? (usingDefault ? options.defaultKernel : undefined);
  const initrdPath = options.initrd ?? (usingDefault ? options.defaultInitrd : undefined);
  const max = options.mem;
  const bios =
    options.bios === 'builtin' || options.bios === 'none'
      ? options.bios
      : load(options.bios, labels.firmware, max, ids[options.bios]);
  let kernel: NamedBytes | undefined;
  if (kernelPath) {
    kernel = load(kernelPath, labels.kernel, max, ids[kernelPath]);
    // Inflated here, bounded by RAM; the machine then gets the plain image.
    if (isGzip(kernel.bytes))
      kernel = {
        name: kernelPath,
        bytes: gunzipKernel(kernel.bytes, `${labels.kernel}: ${kernelPath}`, max),
      };
  }
  return {
    ramSize: options.mem,
    harts: options.smp,
    bios,
    kernel,
    initrd: initrdPath ? load(initrdPath, labels.initrd, max, ids[initrdPath]) : undefined,
    bootargs: options.append ?? 'console=ttyS0',
    jit: options.jit,
  };
}
