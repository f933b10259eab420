/**
 * The manager's end of a runner: a forked child process or a worker thread running runner-main.js,
 * behind one interface so that the manager treats both alike. Whatever happens to a runner (a crash,
 * a kill, a bad message) arrives here as an event, never as an exception in the manager.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FromRunner, ToRunner } from './runner-protocol.js';

/**
 * The smallest heap cap a thread runner gets: under 3 MiB, Node 24 aborts the whole process ("GC
 * during deserialization") instead of ending the worker with ERR_WORKER_OUT_OF_MEMORY.
 */
const MIN_THREAD_HEAP_MIB = 4;

export interface SpawnOptions {
  /**
   * A thread runner's cap on its JavaScript heap (V8 resource limits; guest RAM is a WebAssembly memory
   * outside it). Past it the thread is ended, never the daemon. Process runners are capped by the
   * manager's memory poll instead.
   */
  heapLimitBytes?: number;
}

/** Stderr lines of a runner go to the daemon's log: one stuck runner must not write megabyte lines. */
const MAX_LOG_LINE = 1000;

/** Compiled next to this file (dist/src/vmm/runner-main.js); resolved from this module's URL for ESM. */
const RUNNER_MAIN = new URL('./runner-main.js', import.meta.url);

export interface RunnerHandle {
  readonly kind: 'process' | 'thread';
  /** The runner's process id (a thread runner shares the daemon's). */
  readonly pid: number | undefined;
  send(message: ToRunner): void;
  /** Ends the runner at once (SIGKILL, or terminating the thread). */
  kill(): void;
  /**
   * The runner's resident memory, when it can be told apart from the daemon's: `rss` as ps shows it, and
   * `private` without file-backed pages (the node binary's code, about 40 MiB, is mapped by every
   * runner but present in memory once and reclaimable), which is what a VM really costs the host.
   */
  memory(): { rss: number; private: number } | null;
  /** Called for every message. */
  onMessage: (message: FromRunner) => void;
  /** Called once when the runner is gone, with how it ended ("exited with code 0", "killed by SIGKILL"). */
  onExit: (description: string, clean: boolean) => void;
}

class ProcessRunner implements RunnerHandle {
  readonly kind = 'process';
  onMessage: (message: FromRunner) => void = () => {};
  onExit: (description: string, clean: boolean) => void = () => {};
  private readonly child: ChildProcess;
  private stderrTail = '';

  constructor(log: (message: string) => void) {
    this.child = fork(fileURLToPath(RUNNER_MAIN), [], {
      // Structured clone instead of JSON: console bytes cross as bytes (see runner-protocol.ts).
      serialization: 'advanced',
      // Not the daemon's flags (a --test or --inspect meant for the daemon must not reach every VM).
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const keep = (chunk: Buffer): void => {
      // A runner has nothing to say on stdout/stderr unless something went badly wrong (a V8 fatal
      // error, an abort): keep the tail for the crash reason and pass it to the log.
      const text = chunk.toString('utf8');
      this.stderrTail = (this.stderrTail + text).slice(-2000);
      for (const line of text.split('\n')) if (line.trim()) log(line.slice(0, MAX_LOG_LINE));
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('message', (m) => this.onMessage(m as FromRunner));
    // Spawn failures and IPC write errors: the 'exit' that follows (or not) decides the VM's fate.
    this.child.on('error', (e) => log(`runner: ${e.message}`));
    this.child.on('exit', (code, signal) => {
      let description = signal ? `runner killed by ${signal}` : `runner exited with code ${code}`;
      // A runner that died on its own (V8 out of memory, an abort) said why on stderr.
      const last = this.stderrTail.trim().split('\n').pop();
      if (code !== 0 && signal === null && last) description += `: ${last.slice(0, 300)}`;
      this.onExit(description, signal === null && code === 0);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  send(message: ToRunner): void {
    if (!this.child.connected) return;
    try {
      this.child.send(message, (e) => {
        // The runner died between the check and the write; its exit event tells the story.
        void e;
      });
    } catch {}
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  memory(): { rss: number; private: number } | null {
    const pid = this.child.pid;
    if (pid === undefined) return null;
    try {
      // Linux's view, read by the daemon: a runner whose event loop is stuck (and reports nothing) is
      // still measured. Elsewhere there is no /proc and only the runner's own reports remain.
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kib = (field: string): number => {
        const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
        return m ? Number(m[1]) * 1024 : 0;
      };
      const rss = kib('VmRSS');
      return rss > 0 ? { rss, private: kib('RssAnon') + kib('RssShmem') } : null;
    } catch {
      return null;
    }
  }
}

class ThreadRunner implements RunnerHandle {
  readonly kind = 'thread';
  readonly pid = process.pid;
  onMessage: (message: FromRunner) => void = () => {};
  onExit: (description: string, clean: boolean) => void = () => {};
  private readonly worker: Worker;
  private error: string | null = null;
  private exited = false;

  constructor(log: (message: string) => void, options: SpawnOptions) {
    const heapMiB =
      options.heapLimitBytes === undefined
        ? undefined
        : Math.max(MIN_THREAD_HEAP_MIB, Math.floor(options.heapLimitBytes / 2 ** 20));
    this.worker = new Worker(RUNNER_MAIN, {
      stdout: false,
      stderr: false,
      ...(heapMiB === undefined
        ? {}
        : {
            // The old generation is where a runner's data lives; the young one and code stay small.
            resourceLimits: {
              maxOldGenerationSizeMb: heapMiB,
              maxYoungGenerationSizeMb: Math.min(16, heapMiB),
            },
          }),
    });
    this.worker.on('message', (m) => this.onMessage(m as FromRunner));
    // An exception the runner did not catch ends the thread, never the daemon (this listener is what
    // keeps it from becoming the daemon's uncaught exception).
    this.worker.on('error', (e: Error & { code?: string }) => {
      this.error =
        e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `memory cap exceeded: the runner thread's JavaScript heap reached its limit of ${heapMiB} MiB`
          : e.message;
      log(`runner thread: ${e.message.slice(0, MAX_LOG_LINE)}`);
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      const description = this.error?.startsWith('memory cap exceeded')
        ? this.error
        : this.error
          ? `runner thread failed: ${this.error}`
          : `runner thread exited with code ${code}`;
      this.onExit(description, this.error === null && code === 0);
    });
  }

  send(message: ToRunner): void {
    if (this.exited) return;
    try {
      this.worker.postMessage(message);
    } catch {}
  }

  kill(): void {
    if (!this.exited) void this.worker.terminate();
  }

  memory(): null {
    return null;
  }
}

export function spawnRunner(
  kind: 'process' | 'thread',
  log: (message: string) => void,
  options: SpawnOptions = {},
): RunnerHandle {
  return kind === 'thread' ? new ThreadRunner(log, options) : new ProcessRunner(log);
}
