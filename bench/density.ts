/**
 * Density benchmark: idle default-guest VMs with 64 MiB of RAM, run by a real VmManager, once with
 * process runners and once with thread runners. For each kind it measures create-to-shell time (from
 * the create call to the guest's shell prompt on its console), memory per VM beyond guest RAM, and the
 * host CPU that idle VMs cost; from the per-VM footprint it derives how many such VMs fit in the
 * machine's memory. Firecracker's published figures are printed beside ours for reference.
 *
 * The manager, and with it every thread runner, lives in the benchmark's own process (and process
 * runners are forked from its Node), so each Node measured (--node, --node-24; variants.ts) runs this
 * whole file as a child of its own, one after the other, and the parent prints one table.
 *
 * Usage: node dist/bench/density.js [--vms N] [--idle-seconds S] [--node PATH|current|24]... [--node-24]
 *                                   [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { codeIndexLayout, DEFAULT_DECODE_CACHE_PAGES } from '../src/cpu/state-layout.js';
import type { VmManagerApi, VmSpec } from '../src/vmm/types.js';
import { VmManager } from '../src/vmm/vm-manager.js';
import { median } from './stats.js';
import { fmt, printTable } from './table.js';
import { resolveNodes, VARIANT_OPTIONS } from './variants.js';

const PROMPT = '~ # ';
const GUEST_MIB = 64;

interface KindResult {
  kind: 'process' | 'thread';
  vms: number;
  createToShellSeconds: number[];
  overheadMiBPerVm: number;
  privateOverheadMiBPerVm: number;
  guestResidentMiBPerVm: number;
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

/** Private memory (anonymous + shared-memory pages) of a process: what it alone costs the host. */
function privateOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const anon = Number(/RssAnon:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    const shmem = Number(/RssShmem:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return (anon + shmem) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Resident bytes of guest RAM in a process: each VM's state and RAM is one WebAssembly.Memory, an
 * anonymous mapping of 64 KiB of hart state, guest RAM and the compiled tier's code index
 * (state-layout.ts), found by its size in /proc/PID/smaps. The code index's touched pages (a few
 * hundred KiB) count as guest RAM here.
 */
function guestResidentOf(pid: number): number {
  const wanted = codeIndexLayout(GUEST_MIB * 2 ** 20, DEFAULT_DECODE_CACHE_PAGES).memoryBytes / 1024;
  let total = 0;
  let size = -1;
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      if (line.startsWith('Size:')) size = Number(line.split(/\s+/)[1]);
      else if (line.startsWith('Rss:') && size === wanted) total += Number(line.split(/\s+/)[1]) * 1024;
      else if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) size = -1;
    }
  } catch {
    return 0;
  }
  return total;
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
  const privateBefore = privateOf(process.pid);
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
    // Overhead = what a VM holds beyond its resident guest RAM: the runtime, the interpreter's caches,
    // device buffers. Total RSS also counts the node binary's code pages, which processes share.
    const owners = kind === 'process' ? pids : [process.pid];
    const guestResident = owners.reduce((s, p) => s + guestResidentOf(p), 0);
    const rss =
      kind === 'process'
        ? pids.reduce((s, p) => s + rssOf(p), 0)
        : Math.max(0, rssOf(process.pid) - rssBefore);
    const priv =
      kind === 'process'
        ? pids.reduce((s, p) => s + privateOf(p), 0)
        : Math.max(0, privateOf(process.pid) - privateBefore);
    const overheadMiBPerVm = Math.max(0, rss - guestResident) / count / 2 ** 20;
    const privateOverheadMiBPerVm = Math.max(0, priv - guestResident) / count / 2 ** 20;
    return {
      kind,
      vms: count,
      createToShellSeconds: times,
      overheadMiBPerVm,
      privateOverheadMiBPerVm,
      guestResidentMiBPerVm: guestResident / count / 2 ** 20,
      rssMiBPerVm: rss / count / 2 ** 20,
      idleCpuPercentPerVm,
    };
  } finally {
    await manager.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface NodeResult {
  node: string;
  results: KindResult[];
  loadAverage: { start: number; end: number };
}

/** Measures both runner kinds in this process (this Node). */
async function measureHere(count: number, idleSeconds: number): Promise<NodeResult> {
  const start = loadavg()[0];
  const results: KindResult[] = [];
  for (const kind of ['process', 'thread'] as const) results.push(await measure(kind, count, idleSeconds));
  return { node: process.version, results, loadAverage: { start, end: loadavg()[0] } };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      node: VARIANT_OPTIONS.node,
      'node-24': VARIANT_OPTIONS['node-24'],
      vms: { type: 'string', default: '4' },
      'idle-seconds': { type: 'string', default: '10' },
      json: { type: 'string' },
      // Internal: run here, under this Node, and write the results to this file for the parent.
      'child-json': { type: 'string' },
    },
  });
  const count = Number(values.vms);
  const idleSeconds = Number(values['idle-seconds']);
  if (values['child-json']) {
    writeFileSync(values['child-json'], JSON.stringify(await measureHere(count, idleSeconds)));
    return;
  }
  const nodes = resolveNodes(values);
  console.log(
    `density benchmark: ${count} idle ${GUEST_MIB} MiB VMs per runner kind, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load average ${loadavg()[0].toFixed(2)}`,
  );
  const perNode: Array<NodeResult & { label: string }> = [];
  for (const node of nodes) {
    console.log(`${node.label} (node ${node.version}, ${node.path}):`);
    if (node.path === process.execPath) {
      perNode.push({ label: node.label, ...(await measureHere(count, idleSeconds)) });
      continue;
    }
    const dir = mkdtempSync(join(tmpdir(), 'typervisor-density-'));
    const out = join(dir, 'result.json');
    try {
      const r = spawnSync(
        node.path,
        [
          fileURLToPath(import.meta.url),
          '--vms',
          String(count),
          '--idle-seconds',
          String(idleSeconds),
          '--child-json',
          out,
        ],
        { stdio: 'inherit' },
      );
      if (r.status !== 0) throw new Error(`the run under ${node.label} failed (status ${r.status})`);
      perNode.push({ label: node.label, ...(JSON.parse(readFileSync(out, 'utf8')) as NodeResult) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const rows: string[][] = [];
  for (const n of perNode) {
    for (const r of n.results) {
      // Every guest may come to touch all its RAM; the shared code pages are paid once, not per VM.
      const footprint = GUEST_MIB + r.privateOverheadMiBPerVm;
      rows.push([
        n.label,
        r.kind,
        fmt(median(r.createToShellSeconds), 2),
        `${fmt(r.rssMiBPerVm, 1)} MiB`,
        `${fmt(r.guestResidentMiBPerVm, 1)} MiB`,
        `${fmt(r.overheadMiBPerVm, 1)} MiB`,
        `${fmt(r.privateOverheadMiBPerVm, 1)} MiB`,
        `${fmt(r.idleCpuPercentPerVm, 2)}%`,
        String(Math.floor(totalmem() / 2 ** 20 / footprint)),
        `${n.loadAverage.start.toFixed(1)}-${n.loadAverage.end.toFixed(1)}`,
      ]);
    }
  }
  rows.push(['Firecracker (published)', '', '~0.125 to guest init', '-', '-', '-', '< 5 MiB', '-', '-', '']);
  console.log('');
  printTable(
    [
      'Node',
      'runner',
      'create-to-shell s (median)',
      'host RSS per VM',
      'of which guest RAM',
      'overhead (RSS)',
      'overhead (private)',
      'idle host CPU per VM',
      '64 MiB VMs that fit in RAM',
      'load avg',
    ],
    rows,
    2,
  );
  console.log(
    '\nVMs that fit: host RAM / (64 MiB guest RAM + private overhead), as if every guest touched all its RAM; CPU is not the limit for idle guests.',
  );
  if (values.json) {
    writeFileSync(
      values.json,
      `${JSON.stringify({ date: new Date().toISOString(), vms: count, idleSeconds, nodes: perNode }, null, 2)}\n`,
    );
    console.log(`Wrote ${values.json}`);
  }
}

main().catch((e) => {
  console.error(`bench:density: ${(e as Error).stack}`);
  process.exitCode = 1;
});
