/** The `--jit` and `--jit-threshold` flags shared by `run` and `run-elf`. */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_THRESHOLD, type JitOptions } from '../cpu/jit/jit.js';

export function parseOnOff(text: string, what: string): boolean {
  const t = text.trim().toLowerCase();
  if (t === 'on' || t === 'true' || t === '1') return true;
  if (t === 'off' || t === 'false' || t === '0') return false;
  throw new Error(`${what}: '${text}' is neither on nor off`);
}

const parseJitSwitch = (text: string): boolean => {
  try {
    return parseOnOff(text, '--jit');
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};
const parseThreshold = (text: string): number => {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 0 && n <= 2 ** 31 - 1)) {
    throw new InvalidArgumentError(`--jit-threshold: '${text}' is not a whole number of at least 0`);
  }
  return n;
};

/** `--jit on|off`: the tier is on unless turned off. */
export function jitOption(): Option {
  return new Option('--jit <on|off>', 'the WebAssembly tier for hot guest code (off: the interpreter alone)')
    .argParser(parseJitSwitch)
    .default(true, 'on');
}

/** `--jit-threshold N`. */
export function jitThresholdOption(): Option {
  return new Option(
    '--jit-threshold <n>',
    `taken branches that make a block hot (default ${DEFAULT_THRESHOLD}; 0: compile every block before it first runs)`,
  ).argParser(parseThreshold);
}

/** The tier's options from the flags: false for the interpreter alone. */
export function jitOptions(on: boolean, threshold: number | undefined): JitOptions | false {
  return on ? { threshold } : false;
}
