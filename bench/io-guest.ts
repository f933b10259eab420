/** What the I/O benchmark runs inside a guest: commands at its shell, rates from busybox's `time`. */
import { type ConsoleSession, PROMPT } from '../test/machine/guest-session.js';

/** A guest shell: runs a command, returns its output (long transfers get ten minutes). */
export interface Shell {
  command(cmd: string): Promise<string>;
}

export function shell(vm: ConsoleSession): Shell {
  return { command: (cmd) => vm.command(cmd, PROMPT, 600_000) };
}

/** MB/s of `bytes` moved in the time busybox's `time` printed ("real\t0m 1.23s"). */
export function rate(output: string, bytes: number): number {
  const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(output);
  if (!m) throw new Error(`no timing in the guest's output:\n${output}`);
  const seconds = Number(m[1]) * 60 + Number(m[2]);
  return bytes / 1e6 / Math.max(seconds, 0.01);
}

/**
 * Two guests already at their prompts: 10.0.0.2 serves `mib` MiB from tmpfs with busybox httpd and
 * 10.0.0.1 fetches it with wget (busybox nc copies through a small buffer: it measured nc, 10x slower on QEMU).
 */
export async function tcpRate(a: Shell, b: Shell, mib: number): Promise<number> {
  await a.command('ip addr add 10.0.0.1/24 dev eth0; ip link set eth0 up');
  await b.command('ip addr add 10.0.0.2/24 dev eth0; ip link set eth0 up');
  await b.command(
    `mkdir -p /tmp/www && dd if=/dev/zero of=/tmp/www/big bs=1M count=${mib} 2>/dev/null && httpd -p 8080 -h /tmp/www`,
  );
  await a.command('ping -c 1 -W 5 10.0.0.2 >/dev/null && echo linked');
  const out = await a.command('time wget -q -O /dev/null http://10.0.0.2:8080/big 2>&1');
  return rate(out, mib * 2 ** 20);
}
