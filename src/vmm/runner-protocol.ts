/**
 * What the VM manager and a runner (the child process or worker thread that runs one VM) say to each
 * other. Both kinds of runner speak exactly this: plain objects whose only non-JSON values are console
 * bytes as Uint8Array. Child processes are forked with `serialization: 'advanced'` (V8's structured
 * clone, as worker threads use), so bytes travel as bytes: cheaper than base64 both in CPU and in size.
 *
 * A runner executes guest-controlled work, so the manager treats what it says as untrusted input:
 * `checkFromRunner` accepts a message only in the shape below, with finite numbers, bounded strings and
 * bounded byte chunks, and returns a fresh copy holding nothing else.
 */
import { INPUT_QUEUE_LIMIT } from '../machine/devices/uart16550.js';
import type { MachineExit } from '../machine/virt/virt-machine.js';
import type { HubNic } from './switch-hub.js';
import type { VmMetrics, VmSpec } from './types.js';

/** Largest console chunk in one `output` message; the runner splits bigger ones. */
export const MAX_OUTPUT_CHUNK = 64 * 1024;
/**
 * Console output the runner may have sent that the manager has not acknowledged yet. Past it the
 * runner tells the machine to hold output (the guest's UART then reports its transmitter busy).
 */
export const OUTPUT_WINDOW = 256 * 1024;
/** Beyond this much unacknowledged output the runner drops output (counted), whatever the machine does. */
export const OUTPUT_HARD_LIMIT = 1024 * 1024;
/** Console input in flight from the manager to a runner; more is dropped (counted) by the manager. */
export const INPUT_IN_FLIGHT = 64 * 1024;
/**
 * Console input waiting in the machine for the guest to read it (the UART's own bound); what the
 * machine refuses beyond it is dropped and counted by the runner.
 */
export const INPUT_QUEUE_BYTES = INPUT_QUEUE_LIMIT;
/** Longest text (log line, error, panic detail) the manager takes from a runner; longer is cut. */
export const MAX_TEXT = 2000;

export interface RunnerConfig {
  /** The definition with every path absolute (and resolved) and every NIC's MAC filled in. */
  spec: VmSpec;
  /** The bundled guest, used when spec.boot.kernel is absent. */
  defaultKernel: string;
  defaultInitrd: string;
  /** Each NIC's admission to its switch in the manager's switch hub (socket and token), in spec order. */
  switchPorts: HubNic[];
  /**
   * "dev:ino" of every host file or folder the manager checked, by path: the runner refuses to use
   * what it opened unless it is that same file (nothing was swapped in between the check and the open).
   */
  identities: Record<string, string>;
}

export type ToRunner =
  | { type: 'start'; config: RunnerConfig }
  /** Console keyboard input for the 16550 UART; the runner answers with input-ack. */
  | { type: 'input'; data: Uint8Array }
  /** A serial BREAK, then `key`: a Magic SysRq command for a Linux guest. */
  | { type: 'sysrq'; key: string }
  /** The runner answers with `paused` once the run loop is parked. */
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'reset' }
  /** Pull the plug: the run loop ends (in-flight disk I/O completes), then the runner exits. */
  | { type: 'poweroff' }
  /** The manager has taken `bytes` more of the runner's console output. */
  | { type: 'output-ack'; bytes: number };

/** Metrics as the runner sees them; the manager adds nothing but may override hostRssBytes. */
export type RunnerMetrics = VmMetrics;

export type FromRunner =
  /** The machine is built and its run loop is going. */
  | { type: 'started'; pid: number }
  /** At most MAX_OUTPUT_CHUNK bytes; the manager answers with output-ack. */
  | { type: 'output'; data: Uint8Array }
  /** The runner has taken `bytes` more of the console input sent to it. */
  | { type: 'input-ack'; bytes: number }
  /** The run loop is parked: no guest instruction or device work runs until resume. */
  | { type: 'paused' }
  /** The guest reported a kernel panic (pvpanic, or an SBI reset for a system failure). */
  | { type: 'panic'; detail: string }
  | { type: 'metrics'; metrics: RunnerMetrics }
  /** Something for the daemon's log (a device error the guest caused, say). */
  | { type: 'log'; message: string }
  /** The run loop ended; the runner exits right after. */
  | { type: 'exit'; exit: MachineExit }
  /** The machine could not be built ('setup') or the runner hit an unexpected error ('fatal'). */
  | { type: 'error'; phase: 'setup' | 'fatal'; message: string };

const METRIC_KEYS = [
  'instructions',
  'mips',
  'guestRamBytes',
  'hostRssBytes',
  'diskReadBytes',
  'diskWriteBytes',
  'netRxBytes',
  'netTxBytes',
  'cpuSeconds',
  'consoleOutputDroppedBytes',
  'consoleInputDroppedBytes',
  'logLinesDropped',
] as const satisfies readonly (keyof VmMetrics)[];
const OPTIONAL_METRICS = new Set<string>([
  'consoleOutputDroppedBytes',
  'consoleInputDroppedBytes',
  'logLinesDropped',
]);

class BadMessage extends Error {}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new BadMessage(`${field} is not a string`);
  return value.length > MAX_TEXT ? `${value.slice(0, MAX_TEXT)}... (${value.length - MAX_TEXT} more)` : value;
}

function count(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max)
    throw new BadMessage(`${field} is not a number in 0..${max}`);
  return value;
}

function integer(value: unknown, field: string, max: number): number {
  const n = count(value, field, max);
  if (!Number.isInteger(n)) throw new BadMessage(`${field} is not a whole number`);
  return n;
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BadMessage(`${field} is not an object`);
  return value as Record<string, unknown>;
}

function exit(value: unknown): MachineExit {
  const e = record(value, 'exit');
  switch (e.kind) {
    case 'poweroff':
      // A guest's exit code is whatever it wrote to a register: any 32-bit value.
      return { kind: 'poweroff', code: integer(e.code, 'exit.code', 2 ** 32) };
    case 'fatal':
      return { kind: 'fatal', message: text(e.message, 'exit.message') };
    case 'stopped':
      return { kind: 'stopped' };
    default:
      throw new BadMessage('exit.kind is not poweroff, fatal or stopped');
  }
}

function metrics(value: unknown): RunnerMetrics {
  const m = record(value, 'metrics');
  const out: Record<string, number> = {};
  for (const key of METRIC_KEYS) {
    if (m[key] === undefined && OPTIONAL_METRICS.has(key)) continue;
    out[key] = count(m[key], `metrics.${key}`);
  }
  return out as unknown as RunnerMetrics;
}

/**
 * The message if it is one a runner may send, as a fresh object with only the documented fields
 * (strings cut to MAX_TEXT); otherwise why not. Never throws.
 */
export function checkFromRunner(message: unknown): FromRunner | { invalid: string } {
  try {
    const m = record(message, 'message');
    switch (m.type) {
      case 'started':
        return { type: 'started', pid: integer(m.pid, 'pid', 2 ** 31) };
      case 'output': {
        if (!(m.data instanceof Uint8Array)) throw new BadMessage('data is not bytes');
        if (m.data.length > MAX_OUTPUT_CHUNK)
          throw new BadMessage(`data is ${m.data.length} bytes, more than ${MAX_OUTPUT_CHUNK}`);
        return { type: 'output', data: m.data };
      }
      case 'input-ack':
        return { type: 'input-ack', bytes: integer(m.bytes, 'bytes', INPUT_IN_FLIGHT) };
      case 'paused':
        return { type: 'paused' };
      case 'panic':
        return { type: 'panic', detail: text(m.detail, 'detail') };
      case 'metrics':
        return { type: 'metrics', metrics: metrics(m.metrics) };
      case 'log':
        return { type: 'log', message: text(m.message, 'message') };
      case 'exit':
        return { type: 'exit', exit: exit(m.exit) };
      case 'error':
        if (m.phase !== 'setup' && m.phase !== 'fatal') throw new BadMessage('phase is not setup or fatal');
        return { type: 'error', phase: m.phase, message: text(m.message, 'message') };
      default:
        throw new BadMessage(`unknown type ${JSON.stringify(String(m.type)).slice(0, 40)}`);
    }
  } catch (e) {
    return { invalid: e instanceof BadMessage ? e.message : 'unreadable message' };
  }
}
