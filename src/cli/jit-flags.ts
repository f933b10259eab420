/** The `--jit` and `--jit-threshold` flags shared by `run` and `run-elf`. */
import type { JitOptions } from '../cpu/jit/jit.js';

export function parseOnOff(text: string, what: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === 'on' || t === 'true' || t === '1') return true;
  if (t === 'off' || t === 'false' || t === '0') return false;
  throw new Error(`${what}: '${text}' is neither on nor off`);
}

/** The tier's options from the flags: false for the interpreter alone. */
export function jitOptions(on: boolean, threshold: number | undefined): JitOptions | false {
  return on ? { threshold } : false;
}
