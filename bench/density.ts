/**
 * Density benchmark: idle default-guest VMs with 64 MiB of RAM, run by a real VmManager, once with
 * process runners and once with thread runners. For each kind it measures create-to-shell time (from
 * the create call to the guest's shell prompt on its console), memory per VM beyond guest RAM, and the
 * host CPU that idle VMs cost; from the per-VM footprint it derives how many such VMs fit in the
 * machine's memory. Firecracker's published figures are printed beside ours for reference.
 *
 * Usage: node dist/bench/density.js [--vms N] [--idle-seconds S]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { VmManagerApi, VmSpec } from '../src/vmm/types.js';
import { VmManager } from '../src/vmm/vm-manager.js';

const PROMPT = '~ # ';
const GUEST_MIB = 64;

interface KindResult {
  kind: 'process' | 'thread';
  vms: number;
  createToShellSeconds: number[];
  overheadMiBPerVm: number;
  rssMiBPerVm: number;
  idleCpuPercentPerVm: number;
}

/** Resident memory of this process and its children (runner processes), from /proc. */
function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function waitForPrompt(manager: VmManagerApi, name: string, timeoutMs: number): Promise<void> {
  let seen = '';
  let done: () => void = () => {};
  const reached = new Promise<void>((resolve) => {
    done = resolve;
  });
  const console = manager.attachConsole(name, (bytes) => {
    seen += Buffer.from(bytes).toString('latin1');
    if (seen.includes(PROMPT)) done();
  });
  // Output produced before attaching is in the log ring.
  seen += Buffer.from(manager.logs(name)).toString('latin1');
  if (seen.includes(PROMPT)) done();
  const timer = setTimeout(done, timeoutMs);
  await reached;
  clearTimeout(timer);
  console.detach();
  if (!seen.includes(PROMPT)) throw new Error(`${name}: no shell prompt after ${timeoutMs} ms`);
}

async function measure(kind: 'process' | 'thread', count: number, idleSeconds: number): Promise<KindResult> {
  const dataDir = mkdtempSync(join(tmpdir(), `typervisor-density-${kind}-`));
  const manager = await VmManager.open({ dataDir, memoryBudgetBytes: totalmem() });
  const rssBefore = rssOf(process.pid);
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const spec: VmSpec = {
        name: `${kind}-${i}`,
        vcpus: 1,
        memoryMiB: GUEST_MIB,
        boot: { cmdline: 'console=ttyS0' },
        rng: false,
        runner: kind,
      };
      const started = performance.now();
      await manager.create(spec);
      await manager.start(spec.name);
      await waitForPrompt(manager, spec.name, 300_000);
      times.push((performance.now() - started) / 1000);
      console.log(`  ${kind} VM ${i + 1}/${count} at its shell after ${times[i].toFixed(2)} s`);
    }
    // Let boot-time work settle before measuring what idling costs.
    await new Promise((r) => setTimeout(r, 3000));
    const infos = () => manager.list().filter((v) => v.state === 'running');
    const pids = infos()
      .map((v) => v.pid)
      .filter((p): p is number => typeof p === 'number' && p !== process.pid);
    const cpu0 =
      kind === 'process' ? pids.reduce((s, p) => s + cpuSecondsOf(p), 0) : cpuSecondsOf(process.pid);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const cpu1 =
      kind === 'process' ? pids.reduce((s, p) => s + cpuSecondsOf(p), 0) : cpuSecondsOf(process.pid);
    const idleCpuPercentPerVm = ((cpu1 - cpu0) / idleSeconds / count) * 100;
    const guestBytes = count * GUEST_MIB * 2 ** 20;
    const rss =
      kind === 'process'
        ? pids.reduce((s, p) => s + rssOf(p), 0)
        : Math.max(0, rssOf(process.pid) - rssBefore);
    // RSS counts only the guest pages the guest touched, so RSS minus the full guest RAM is a lower bound
    // of the overhead; RSS per VM (printed too) is what a VM really costs the host.
    const overheadMiBPerVm = Math.max(0, rss - guestBytes) / count / 2 ** 20;
    return {
      kind,
      vms: count,
      createToShellSeconds: times,
      overheadMiBPerVm,
      rssMiBPerVm: rss / count / 2 ** 20,
      idleCpuPercentPerVm,
    };
  } finally {
    await manager.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vms: { type: 'string', default: '4' },
      'idle-seconds': { type: 'string', default: '10' },
    },
  });
  const count = Number(values.vms);
  const idleSeconds = Number(values['idle-seconds']);
  console.log(
    `density benchmark: ${count} idle ${GUEST_MIB} MiB VMs per runner kind, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadavg()[0].toFixed(2)}`,
  );
  const results: KindResult[] = [];
  for (const kind of ['process', 'thread'] as const) results.push(await measure(kind, count, idleSeconds));
  console.log(
    '\n| runner | create-to-shell (s, median) | host RSS per VM | RSS beyond 64 MiB guest RAM | idle host CPU per VM | 64 MiB VMs that fit in RAM |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const footprint = Math.max(r.rssMiBPerVm, GUEST_MIB + r.overheadMiBPerVm);
    const fit = Math.floor(totalmem() / 2 ** 20 / footprint);
    console.log(
      `| ${r.kind} | ${median(r.createToShellSeconds).toFixed(2)} | ${r.rssMiBPerVm.toFixed(1)} MiB | ${r.overheadMiBPerVm.toFixed(1)} MiB | ${r.idleCpuPercentPerVm.toFixed(2)}% | ${fit} |`,
    );
  }
  console.log('| Firecracker (published) | ~0.125 to guest init | - | < 5 MiB | - | - |');
  console.log(
    '\nVMs that fit: host RAM / the larger of (RSS per VM) and (guest RAM + overhead): every guest may touch all its RAM.',
  );
}

main().catch((e) => {
  console.error(`bench:density: ${(e as Error).stack}`);
  process.exitCode = 1;
});
