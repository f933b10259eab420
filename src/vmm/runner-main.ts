/**
 * Entry point of a runner: `child_process.fork`ed by the manager (one process per VM, the default) or
 * started as a worker thread (spec.runner === 'thread'). Whichever it is, it speaks the protocol of
 * runner-protocol.ts over its channel to the manager; an uncaught error ends only this runner, and the
 * manager sees that as the VM crashing.
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import type { VirtMachine } from '../machine/virt/virt-machine.js';
import { type RunnerChannel, serveRunner } from './runner.js';
import type { FromRunner, ToRunner } from './runner-protocol.js';

function processChannel(): RunnerChannel {
  if (!process.send) throw new Error('runner-main: not started by the VM manager (no IPC channel)');
  // The manager is gone (it died, or closed the channel): a VM nobody can reach must not run on.
  process.on('disconnect', () => process.exit(0));
  return {
    send(message: FromRunner) {
      if (process.connected) process.send?.(message, undefined, undefined, () => {});
    },
    onMessage(handler) {
      process.on('message', (m) => handler(m as ToRunner));
    },
    exit(code) {
      // An empty message with a callback: once it is sent, every earlier message is too.
      if (!process.connected) process.exit(code);
      process.send?.({ type: 'log', message: '' } as FromRunner, undefined, undefined, () =>
        process.exit(code),
      );
    },
    cpuSeconds() {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
  };
}

function threadChannel(): RunnerChannel {
  const port = parentPort;
  if (!port) throw new Error('runner-main: no parent port');
  return {
    send(message: FromRunner) {
      port.postMessage(message);
    },
    onMessage(handler) {
      port.on('message', (m) => handler(m as ToRunner));
    },
    exit(code) {
      // Messages already posted are delivered before the worker's exit is seen.
      setImmediate(() => process.exit(code));
    },
    // process.cpuUsage() is the whole daemon's in a thread; the run loop's busy time is this VM's.
    cpuSeconds(machine: VirtMachine | null) {
      return machine ? machine.busyMs / 1000 : 0;
    },
  };
}

const channel = isMainThread ? processChannel() : threadChannel();
process.on('uncaughtException', (e) => {
  channel.send({ type: 'error', phase: 'fatal', message: `runner: ${e.stack ?? e.message}` });
  channel.exit(1);
});
serveRunner(channel);
