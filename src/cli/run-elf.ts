/**
 * `typervisor run-elf`: runs a bare-metal ELF on the Spike-like machine and maps the HTIF exit code to
 * the process exit status, as Spike and `qemu-system-riscv64 -M spike` do.
 */
import { readFileSync, writeSync } from 'node:fs';
import type { Hart } from '../cpu/hart.js';
import type { JitOptions } from '../cpu/jit/jit.js';
import { BAREMETAL_RAM_BASE, BareMetalMachine } from '../machine/baremetal-machine.js';
import { ElfError, parseElf } from '../machine/elf.js';

export interface RunElfOptions {
  maxInstructions: number;
  ramSize: number;
  trace: boolean;
  stats: boolean;
  /** The compiled tier; false runs the interpreter alone. */
  jit: JitOptions | false;
}

/** Exit statuses besides the guest's own code. */
export const EXIT_LIMIT = 124;
export const EXIT_ERROR = 125;
export const EXIT_STUCK = 126;

function hex(v: bigint | number): string {
  return `0x${BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, '0')}`;
}

export function runElf(file: string, options: RunElfOptions): number {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    process.stderr.write(`typervisor: cannot read ${file}: ${(e as Error).message}\n`);
    return EXIT_ERROR;
  }
  let machine: BareMetalMachine;
  try {
    const image = parseElf(bytes, file);
    machine = new BareMetalMachine(image, file, {
      ramSize: options.ramSize,
      maxInstructions: options.maxInstructions,
      host: {
        output: (fd, data) => writeAll(fd === 2 ? 2 : 1, data),
        exit: () => {},
      },
      trace: options.trace ? traceLine : undefined,
      jit: options.jit,
    });
  } catch (e) {
    if (e instanceof ElfError || e instanceof RangeError) {
      process.stderr.write(`typervisor: ${e.message}\n`);
      return EXIT_ERROR;
    }
    throw e;
  }
  const outcome = machine.run();
  if (options.stats) {
    const mips = outcome.instructions / outcome.seconds / 1e6;
    const jit = machine.hart.jit;
    const stats: Record<string, unknown> = {
      instructions: outcome.instructions,
      seconds: outcome.seconds,
      mips: Number(mips.toFixed(2)),
    };
    // What the compiled tier did: batches compiled, guest instructions translated, wasm bytes, time.
    if (jit !== null) stats.jit = jit.stats;
    process.stderr.write(`${JSON.stringify(stats)}\n`);
  }
  switch (outcome.kind) {
    case 'exit':
      if (outcome.code === 0) return 0;
      process.stderr.write(
        `typervisor: ${file}: FAIL: test #${outcome.code} (tohost exit code ${outcome.code})\n`,
      );
      return outcome.code & 0xff || 1;
    case 'limit':
      process.stderr.write(
        `typervisor: ${file}: stopped after --max-insns ${options.maxInstructions} instructions without exiting ` +
          `(pc ${hex(machine.hart.pc)})\n`,
      );
      return EXIT_LIMIT;
    default:
      process.stderr.write(
        `typervisor: ${file}: the hart waits for an interrupt that nothing can raise (wfi at pc ${hex(outcome.pc)})\n`,
      );
      return EXIT_STUCK;
  }
}

/** Writes all of `data` (a view of guest RAM, up to all of it) in pieces the host's write(2) takes. */
function writeAll(fd: number, data: Uint8Array): void {
  for (let at = 0; at < data.length; ) {
    at += writeSync(fd, data, at, Math.min(data.length - at, 1 << 20));
  }
}

function traceLine(hart: Hart): void {
  const pc = BigInt.asUintN(64, BigInt(hart.pc));
  const priv = 'USHM'[hart.priv];
  let bits = '';
  const off = hart.pc - BAREMETAL_RAM_BASE;
  if (hart.csr !== undefined && off >= 0 && off + 4 <= hart.ramSize) {
    const low = hart.ram16[off >> 1];
    bits =
      (low & 3) === 3
        ? ((low | (hart.ram16[(off >> 1) + 1] << 16)) >>> 0).toString(16).padStart(8, '0')
        : low.toString(16).padStart(4, '0');
  }
  process.stderr.write(`${priv} ${pc.toString(16).padStart(16, '0')} ${bits}\n`);
}
