/**
 * What the VM manager and a runner (the child process or worker thread that runs one VM) say to each
 * other. Both kinds of runner speak exactly this: plain objects whose only non-JSON values are console
 * bytes as Uint8Array. Child processes are forked with `serialization: 'advanced'` (V8's structured
 * clone, as worker threads use), so bytes travel as bytes: cheaper than base64 both in CPU and in size.
 */
import type { MachineExit } from '../machine/virt/virt-machine.js';
import type { HubNic } from './switch-hub.js';
import type { VmMetrics, VmSpec } from './types.js';

export interface RunnerConfig {
  /** The definition with every path absolute and every NIC's MAC filled in. */
  spec: VmSpec;
  /** The bundled guest, used when spec.boot.kernel is absent. */
  defaultKernel: string;
  defaultInitrd: string;
  /** Each NIC's admission to its switch in the manager's switch hub (socket and token), in spec order. */
  switchPorts: HubNic[];
}

export type ToRunner =
  | { type: 'start'; config: RunnerConfig }
  /** Console keyboard input for the 16550 UART. */
  | { type: 'input'; data: Uint8Array }
  /** A serial BREAK, then `key`: a Magic SysRq command for a Linux guest. */
  | { type: 'sysrq'; key: string }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'reset' }
  /** Pull the plug: the run loop ends (in-flight disk I/O completes), then the runner exits. */
  | { type: 'poweroff' };

/** Metrics as the runner sees them; the manager adds nothing but may override hostRssBytes. */
export type RunnerMetrics = VmMetrics;

export type FromRunner =
  /** The machine is built and its run loop is going. */
  | { type: 'started'; pid: number }
  | { type: 'output'; data: Uint8Array }
  | { type: 'metrics'; metrics: RunnerMetrics }
  /** Something for the daemon's log (a device error the guest caused, say). */
  | { type: 'log'; message: string }
  /** The run loop ended; the runner exits right after. */
  | { type: 'exit'; exit: MachineExit }
  /** The machine could not be built ('setup') or the runner hit an unexpected error ('fatal'). */
  | { type: 'error'; phase: 'setup' | 'fatal'; message: string };
