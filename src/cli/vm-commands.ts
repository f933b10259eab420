/**
 * `typervisor vm ...`: a virsh-like client of the daemon. Exit statuses: 0 success, 1 the daemon
 * refused (its message is printed), 2 the command was called wrongly, 69 (EX_UNAVAILABLE) no
 * daemon answered, with a hint to start one.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { type Command, type CommanderError, InvalidArgumentError } from 'commander';
import { parseAllDocuments } from 'yaml';
import type { VmEvent, VmInfo, VmSpec } from '../vmm/types.js';
import { ApiError, type ClientOptions, DaemonUnreachable, UsageError, VmClient } from './vm-client.js';

export const EXIT_API_ERROR = 1;
export const EXIT_USAGE = 2;
/** sysexits.h EX_UNAVAILABLE: the service the command needs is not there. */
export const EXIT_UNREACHABLE = 69;

/** Ctrl-], virsh's and telnet's detach key. */
const DETACH_BYTE = 0x1d;

/** Turns any failure into a message on stderr and the exit status for its kind. */
function report(error: unknown): number {
  if (error instanceof DaemonUnreachable) {
    process.stderr.write(`typervisor: ${error.message}\nhint: ${error.hint}\n`);
    return EXIT_UNREACHABLE;
  }
  if (error instanceof ApiError) {
    process.stderr.write(`typervisor: ${error.message}\n`);
    return EXIT_API_ERROR;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`typervisor: ${error.message}\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`typervisor: ${(error as Error).message ?? String(error)}\n`);
  return EXIT_API_ERROR;
}

/** Runs a command body with the client built from the global flags, setting the exit status. */
function withClient(
  command: Command,
  body: (client: VmClient) => Promise<number | undefined>,
): Promise<void> {
  const opts = command.optsWithGlobals<ClientOptions>();
  return (async () => {
    try {
      process.exitCode = (await body(new VmClient(opts))) ?? 0;
    } catch (e) {
      process.exitCode = report(e);
    }
  })();
}

/**
 * Reads VM definitions from a YAML or JSON file: one definition, a JSON array, or several YAML
 * documents separated by `---`. Relative paths in a definition are taken relative to the file,
 * since the daemon resolves paths from its own working directory.
 */

/**
 * Runs `each` for every item even when one fails, as `docker stop a b` does; returns the exit status
 * of the last failure (0 if none). An unreachable daemon ends the loop at once.
 */
async function forEach<T>(
  items: T[],
  each: (item: T) => Promise<void>,
  label?: (item: T, e: ApiError) => void,
): Promise<number> {
  let status = 0;
  for (const item of items) {
    try {
      await each(item);
    } catch (e) {
      if (e instanceof DaemonUnreachable) throw e;
      if (label && e instanceof ApiError) label(item, e);
      status = report(e);
    }
  }
  return status;
}

export function readVmFile(file: string): VmSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(
      `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  let values: unknown[];
  if (extname(file).toLowerCase() === '.json') {
    try {
      const parsed = JSON.parse(text) as unknown;
      values = Array.isArray(parsed) ? parsed : [parsed];
    } catch (e) {
      throw new UsageError(`${file}: ${(e as Error).message}`);
    }
  } else {
    values = [];
    // An empty file parses as an empty stream, which is an empty array too.
    for (const doc of parseAllDocuments(text)) {
      const problem = doc.errors[0];
      if (problem) throw new UsageError(`${file}: ${problem.message}`);
      const value = doc.toJS() as unknown;
      if (value === null || value === undefined) continue; // an empty document, e.g. after a trailing ---
      if (Array.isArray(value)) values.push(...value);
      else values.push(value);
    }
  }
  if (values.length === 0) throw new UsageError(`${file}: no VM definition in it`);
  const base = dirname(resolve(file));
  return values.map((value, i) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new UsageError(`${file}: definition ${i + 1} is not a mapping of settings`);
    }
    return resolvePaths(value as VmSpec, base);
  });
}

function resolvePaths(spec: VmSpec, base: string): VmSpec {
  const at = (p: unknown) => (typeof p === 'string' && p !== '' && !isAbsolute(p) ? resolve(base, p) : p);
  const out = structuredClone(spec);
  if (out.boot && typeof out.boot === 'object') {
    for (const key of ['kernel', 'initrd'] as const)
      if (out.boot[key] !== undefined) out.boot[key] = at(out.boot[key]) as string;
    const fw = out.boot.firmware;
    if (fw !== undefined && fw !== 'builtin' && fw !== 'none') out.boot.firmware = at(fw) as string;
  }
  for (const list of [out.disks, out.shares]) {
    if (!Array.isArray(list)) continue;
    for (const item of list as { path?: unknown }[]) {
      if (item && typeof item === 'object' && 'path' in item) item.path = at(item.path);
    }
  }
  return out;
}

function formatUptime(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${String(h).padStart(2, '0')}h`;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${s % 60}s`;
}

function formatMemory(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

/** An aligned table: columns as wide as their widest cell, numbers right-aligned. */
export function formatTable(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function formatVmList(vms: VmInfo[]): string {
  const rows = [...vms]
    .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
    .map((vm) => [
      vm.spec.name,
      vm.state,
      String(vm.spec.vcpus),
      formatMemory(vm.spec.memoryMiB),
      formatUptime(vm.uptimeSeconds),
      // The manager keeps the last figures of a stopped VM; a rate is only meaningful while it runs.
      vm.metrics && (vm.state === 'running' || vm.state === 'paused') ? vm.metrics.mips.toFixed(1) : '-',
    ]);
  return formatTable(['NAME', 'STATE', 'VCPUS', 'MEMORY', 'UPTIME', 'MIPS'], rows, new Set([2, 3, 4, 5]));
}

const vmPath = (name: string, action = '') => `/vms/${encodeURIComponent(name)}${action ? `/${action}` : ''}`;

/** Opens the console WebSocket and resolves once it is open, or rejects as the HTTP calls do. */
function openConsole(client: VmClient, name: string) {
  const ws = client.websocket(vmPath(name, 'console'));
  return new Promise<typeof ws>((resolveOpen, reject) => {
    ws.once('open', () => resolveOpen(ws));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        reject(
          client.websocketError(new Error('handshake refused'), {
            statusCode: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        ws.terminate();
      });
    });
    ws.once('error', (e: Error & { code?: string }) => reject(client.websocketError(e)));
  });
}

/** Why the daemon closed a console: close codes 4000+HTTP status carry the API's reason. */
function closeMessage(code: number, reason: string): { message: string; failed: boolean } {
  if (code >= 4000 && code < 5000)
    return { message: reason || `closed with status ${code - 4000}`, failed: true };
  if (code === 1000 || code === 1001) return { message: reason || 'console closed', failed: false };
  return { message: reason || `console closed (code ${code})`, failed: code !== 1005 };
}

async function consoleSession(client: VmClient, name: string): Promise<number> {
  const info = await client.json<VmInfo>('GET', vmPath(name));
  const ws = await openConsole(client, name);
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  process.stderr.write(`Connected to VM '${name}' (escape character is ^])\n`);
  if (info.state !== 'running' && info.state !== 'paused') {
    // The daemon keeps the console attached across starts: attaching first shows the whole boot.
    process.stderr.write(`VM '${name}' is ${info.state}: its output appears here once it starts\n`);
  }
  if (raw) stdin.setRawMode(true);
  return new Promise<number>((resolveDone) => {
    let detached = false;
    const cleanup = () => {
      stdin.off('data', onInput);
      stdin.pause();
      if (raw) stdin.setRawMode(false);
    };
    const onInput = (chunk: Buffer) => {
      const at = chunk.indexOf(DETACH_BYTE);
      const keep = at === -1 ? chunk : chunk.subarray(0, at);
      if (keep.length > 0 && ws.readyState === ws.OPEN) ws.send(keep, { binary: true });
      if (at !== -1) {
        detached = true;
        ws.close(1000, 'detached');
      }
    };
    stdin.on('data', onInput);
    stdin.resume();
    ws.on('message', (data: Buffer) => {
      process.stdout.write(data);
    });
    ws.on('close', (code: number, reasonBytes: Buffer) => {
      cleanup();
      const { message, failed } = closeMessage(code, reasonBytes.toString('utf8'));
      // Start on a fresh line: the guest's output may have left the cursor mid-line.
      process.stderr.write(detached ? `\nDetached from VM '${name}'\n` : `\n${message}\n`);
      resolveDone(!detached && failed ? EXIT_API_ERROR : 0);
    });
    ws.on('error', (e: Error) => process.stderr.write(`typervisor: console: ${e.message}\n`));
  });
}

async function followLogs(client: VmClient, name: string): Promise<number> {
  process.stdout.write(await client.bytes(vmPath(name, 'logs')));
  const ws = await openConsole(client, name);
  return new Promise<number>((resolveDone) => {
    const onSignal = () => ws.close(1000, 'done');
    process.once('SIGINT', onSignal);
    ws.on('message', (data: Buffer) => process.stdout.write(data));
    ws.on('close', (code: number, reason: Buffer) => {
      process.off('SIGINT', onSignal);
      const { message, failed } = closeMessage(code, reason.toString('utf8'));
      if (failed) process.stderr.write(`typervisor: ${message}\n`);
      resolveDone(failed ? EXIT_API_ERROR : 0);
    });
  });
}

function seconds(text: string): number {
  const n = Number(text);
  if (!(text.trim() !== '' && Number.isFinite(n) && n >= 0))
    throw new InvalidArgumentError(`'${text}' is not a number of seconds`);
  return n;
}

export function registerVmCommands(program: Command): void {
  const vm = program
    .command('vm')
    .description('manage the VMs of a running daemon (`typervisor serve`)')
    .option(
      '--socket <path>',
      "the daemon's Unix socket (default: $TYPERVISOR_SOCKET or <data-dir>/typervisor.sock)",
    )
    .option('--url <url>', 'a daemon listening on TCP, e.g. http://127.0.0.1:8080 (default: $TYPERVISOR_URL)')
    .option('--token <token>', 'bearer token for --url (default: $TYPERVISOR_TOKEN)')
    // Commander's own usage errors exit 1, which the API errors use; make them 2 like other tools.
    .exitOverride((err: CommanderError) => {
      if (err.exitCode === 0) process.exit(0);
      process.exit(err.exitCode === 1 ? EXIT_USAGE : err.exitCode);
    });

  vm.command('create')
    .description('define VMs from a YAML or JSON file (several YAML documents define several VMs)')
    .requiredOption('-f, --file <file>', 'the VM definition(s)')
    .option('--start', 'start each VM once defined')
    .action(async (opts: { file: string; start?: boolean }, command: Command) =>
      withClient(command, async (client) =>
        // One refused definition (a kernel not fetched yet, say) does not hold back the others.
        forEach(
          readVmFile(opts.file),
          async (spec) => {
            const info = await client.json<VmInfo>('POST', '/vms', spec);
            process.stdout.write(`created ${info.spec.name}\n`);
            if (opts.start) {
              const started = await client.json<VmInfo>('POST', vmPath(info.spec.name, 'start'));
              process.stdout.write(`${started.spec.name}: ${started.state}\n`);
            }
          },
          (spec, e) => {
            const name = typeof spec.name === 'string' ? spec.name : '(unnamed)';
            e.message = `${name}: ${e.message}`;
          },
        ),
      ),
    );

  vm.command('list')
    .alias('ls')
    .description('list VMs: NAME STATE VCPUS MEMORY UPTIME MIPS')
    .option('--json', 'print the full VmInfo list as JSON')
    .action(async (opts: { json?: boolean }, command: Command) =>
      withClient(command, async (client) => {
        const vms = await client.json<VmInfo[]>('GET', '/vms');
        process.stdout.write(opts.json ? `${JSON.stringify(vms, null, 2)}\n` : formatVmList(vms));
        return 0;
      }),
    );

  vm.command('inspect')
    .description("a VM's definition, state and metrics as JSON")
    .argument('<name>')
    .action(async (name: string, _opts: object, command: Command) =>
      withClient(command, async (client) => {
        const info = await client.json<VmInfo>('GET', vmPath(name));
        process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        return 0;
      }),
    );

  const lifecycle: [string, string][] = [
    ['start', 'start VMs'],
    ['pause', 'pause running VMs'],
    ['resume', 'resume paused VMs'],
    ['reset', 'hard-reset running VMs (the reset button)'],
    ['stop', 'stop VMs at once (pull the plug; see shutdown)'],
  ];
  for (const [action, description] of lifecycle) {
    vm.command(action)
      .description(description)
      .argument('<names...>')
      .action(async (names: string[], _opts: object, command: Command) =>
        withClient(command, async (client) =>
          forEach(names, async (name) => {
            const info = await client.json<VmInfo>('POST', vmPath(name, action));
            process.stdout.write(`${info.spec.name}: ${info.state}\n`);
          }),
        ),
      );
  }

  vm.command('shutdown')
    .description('ask guests to power off; stop them after --timeout seconds')
    .argument('<names...>')
    .option(
      '--timeout <seconds>',
      'seconds to wait before pulling the plug (default: the daemon decides)',
      seconds,
    )
    .action(async (names: string[], opts: { timeout?: number }, command: Command) =>
      withClient(command, async (client) =>
        forEach(names, async (name) => {
          const body = opts.timeout === undefined ? {} : { timeoutSeconds: opts.timeout };
          const info = await client.json<VmInfo>('POST', vmPath(name, 'shutdown'), body);
          process.stdout.write(`${info.spec.name}: ${info.state}\n`);
        }),
      ),
    );

  vm.command('rm')
    .alias('delete')
    .description('delete stopped VMs (their disk images are kept)')
    .argument('<names...>')
    .action(async (names: string[], _opts: object, command: Command) =>
      withClient(command, async (client) =>
        forEach(names, async (name) => {
          await client.json<void>('DELETE', vmPath(name));
          process.stdout.write(`deleted ${name}\n`);
        }),
      ),
    );

  vm.command('console')
    .description("attach the terminal to a VM's console (Ctrl-] detaches)")
    .argument('<name>')
    .action(async (name: string, _opts: object, command: Command) =>
      withClient(command, (client) => consoleSession(client, name)),
    );

  vm.command('logs')
    .description("print a VM's recent console output")
    .argument('<name>')
    .option('-f, --follow', 'keep printing console output as it comes (Ctrl-C stops)')
    .action(async (name: string, opts: { follow?: boolean }, command: Command) =>
      withClient(command, async (client) => {
        if (opts.follow) return followLogs(client, name);
        process.stdout.write(await client.bytes(vmPath(name, 'logs')));
        return 0;
      }),
    );

  vm.command('events')
    .description('print the event log, one JSON object per line')
    .option('--since <seq>', 'only events whose seq is greater than this')
    .action(async (opts: { since?: string }, command: Command) =>
      withClient(command, async (client) => {
        if (opts.since !== undefined && !/^\d+$/.test(opts.since)) {
          throw new UsageError(`--since: '${opts.since}' is not an event sequence number`);
        }
        const query = opts.since === undefined ? '' : `?since=${opts.since}`;
        const events = await client.json<VmEvent[]>('GET', `/events${query}`);
        for (const e of events) process.stdout.write(`${JSON.stringify(e)}\n`);
        return 0;
      }),
    );
}
