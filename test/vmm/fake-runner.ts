/**
 * A runner that runs nothing, for testing the VM manager's side of the runner protocol: the test
 * plays the runner, sending whatever messages (well-formed or hostile) it likes and seeing what the
 * manager sends back.
 */
import type { RunnerHandle, SpawnOptions } from '../../src/vmm/runner-handle.js';
import type { RunnerConfig, ToRunner } from '../../src/vmm/runner-protocol.js';

export class FakeRunner implements RunnerHandle {
  readonly kind: 'process' | 'thread';
  readonly pid = 999_999;
  readonly received: ToRunner[] = [];
  config: RunnerConfig | null = null;
  killed = false;
  onMessage: RunnerHandle['onMessage'] = () => {};
  onExit: RunnerHandle['onExit'] = () => {};
  /** Answer 'pause' with 'paused' (a runner whose loop parks); false plays one that never does. */
  confirmPause = true;

  constructor(
    kind: 'process' | 'thread',
    readonly options: SpawnOptions,
  ) {
    this.kind = kind;
  }

  /** A message from the "runner" to the manager: anything at all, as an attacker could send. */
  say(message: unknown): void {
    this.onMessage(message as never);
  }

  send(message: ToRunner): void {
    this.received.push(message);
    if (message.type === 'start') {
      this.config = message.config;
      setImmediate(() => this.say({ type: 'started', pid: 1 }));
    } else if (message.type === 'pause' && this.confirmPause) {
      setImmediate(() => this.say({ type: 'paused' }));
    } else if (message.type === 'poweroff') {
      setImmediate(() => {
        this.say({ type: 'exit', exit: { kind: 'stopped' } });
        this.exit('runner exited with code 0');
      });
    }
  }

  kill(): void {
    if (this.killed) return;
    this.killed = true;
    setImmediate(() => this.onExit('runner killed by SIGKILL', false));
  }

  exit(description: string): void {
    if (this.killed) return;
    this.killed = true;
    this.onExit(description, true);
  }

  memory(): null {
    return null;
  }

  /** What the manager sent of one type. */
  sent<T extends ToRunner['type']>(type: T): Extract<ToRunner, { type: T }>[] {
    return this.received.filter((m) => m.type === type) as Extract<ToRunner, { type: T }>[];
  }
}

/** A spawnRunner for VmManager.open that records every runner it makes. */
export function fakeRunners(setup: (runner: FakeRunner) => void = () => {}) {
  const runners: FakeRunner[] = [];
  const spawn = (kind: 'process' | 'thread', _log: (message: string) => void, options: SpawnOptions) => {
    const runner = new FakeRunner(kind, options);
    setup(runner);
    runners.push(runner);
    return runner;
  };
  return { runners, spawn };
}
