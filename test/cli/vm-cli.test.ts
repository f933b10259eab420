/**
 * The daemon and the virsh-like CLI end to end: `typervisor serve` on a temporary data directory,
 * driven by `typervisor vm ...` as a user would, with the real VM manager booting the bundled guest.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatVmList, readVmFile } from '../../src/cli/vm-commands.js';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const EXAMPLE = join(REPO_ROOT, 'examples', 'default-guest.yaml');
const SIDE_BY_SIDE = join(REPO_ROOT, 'examples', 'side-by-side.yaml');
const UBOOT = '/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin';
const haveManager = existsSync(join(REPO_ROOT, 'dist', 'src', 'vmm', 'vm-manager.js'));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion, feeding `input` chunks to its stdin with a pause before each. */
function cli(args: string[], options: { input?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    void (async () => {
      for (const chunk of options.input ?? []) {
        await new Promise((r) => setTimeout(r, 1500));
        child.stdin.write(chunk);
      }
      if (!options.input) child.stdin.end();
    })();
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

describe('typervisor serve + typervisor vm', {
  skip: haveManager ? false : 'src/vmm/vm-manager.ts is not built',
}, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'typervisor-cli-'));
  const socket = join(dataDir, 'typervisor.sock');
  let daemon: ChildProcess;
  let daemonLog = '';
  const vm = (args: string[], options: { input?: string[] } = {}) =>
    cli(['vm', '--socket', socket, ...args], options);

  before(async () => {
    daemon = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    daemon.stderr?.on('data', (c: Buffer) => {
      daemonLog += c.toString();
    });
    await until('the daemon socket', 30_000, async () => (existsSync(socket) ? true : undefined));
  });

  after(async () => {
    if (daemon.exitCode === null) {
      daemon.kill('SIGKILL');
      await new Promise((r) => daemon.once('exit', r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the socket file is mode 0600', () => {
    assert.equal(statSync(socket).mode & 0o777, 0o600);
  });

  test('create from the example, list, start, logs show the boot, console, stop, rm', async () => {
    let r = await vm(['create', '-f', EXAMPLE]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'created default\n');

    r = await vm(['list']);
    assert.equal(r.code, 0, r.stderr);
    const [header, row] = r.stdout.trimEnd().split('\n');
    assert.match(header, /^NAME\s+STATE\s+VCPUS\s+MEMORY\s+UPTIME\s+MIPS$/);
    assert.match(row, /^default\s+stopped\s+1\s+64 MiB\s+-\s+-$/);
    // the columns line up: each header word starts where its column's cells end or start
    assert.equal(header.indexOf('STATE'), row.indexOf('stopped'));

    r = await vm(['start', 'default']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'default: running\n');

    const logs = await until('the guest to boot to a shell', 180_000, async () => {
      const l = await vm(['logs', 'default']);
      return l.code === 0 && l.stdout.includes('~ # ') ? l.stdout : undefined;
    });
    assert.match(logs, /Linux version 6\./);

    // Type a command on the console, then detach with Ctrl-].
    r = await vm(['console', 'default'], { input: ['echo typed-$((6*7))\n', '\x1d'] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /typed-42/);
    assert.match(r.stderr, /Detached from VM 'default'/);

    r = await vm(['inspect', 'default']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { state: string; metrics?: { instructions: number } };
    assert.equal(info.state, 'running');
    assert.ok((info.metrics?.instructions ?? 0) > 0);

    r = await vm(['list']);
    assert.match(r.stdout, /^default\s+running\s+1\s+64 MiB\s+\d+[smh]/m);

    r = await vm(['pause', 'default']);
    assert.equal(r.stdout, 'default: paused\n');
    r = await vm(['resume', 'default']);
    assert.equal(r.stdout, 'default: running\n');

    // a running VM cannot be deleted: the daemon's message, exit status 1
    r = await vm(['rm', 'default']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^typervisor: .*stop it/m);

    r = await vm(['stop', 'default']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'default: stopped\n');

    r = await vm(['rm', 'default']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deleted default\n');
    r = await vm(['list']);
    assert.doesNotMatch(r.stdout, /default/);
  });

  test('the daemon refuses bad requests: exit 1 with its message', async () => {
    let r = await vm(['start', 'nosuch']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "typervisor: no VM named 'nosuch'\n");

    const bad = join(dataDir, 'bad.yaml');
    writeFileSync(bad, 'name: tiny\nvcpus: 1\nmemoryMiB: 8\nboot: {}\n');
    r = await vm(['create', '-f', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tiny: body\/memoryMiB must be >= 16/);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await vm(['bogus'])).code, 2);
    assert.equal((await vm(['create'])).code, 2);
    assert.equal((await vm(['start'])).code, 2);
  });

  test('three VMs at once: a runner killed with SIGKILL and a guest panic stay with their VM', async () => {
    const names = ['iso-a', 'iso-b', 'iso-c'];
    for (const name of names) {
      const file = join(dataDir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({ name, vcpus: 1, memoryMiB: 64, boot: { cmdline: 'console=ttyS0' } }),
      );
      assert.equal((await vm(['create', '-f', file])).code, 0);
    }
    const started = await vm(['start', ...names]);
    assert.equal(started.code, 0, started.stderr);
    for (const name of names) {
      await until(`${name} to reach its shell`, 240_000, async () => {
        const l = await vm(['logs', name]);
        return l.stdout.includes('~ # ') ? true : undefined;
      });
    }
    const inspect = async (name: string) =>
      JSON.parse((await vm(['inspect', name])).stdout) as { state: string; reason?: string; pid?: number };

    // kill -9 the runner of iso-a, panic the kernel of iso-b (with a kernel that reports panics through
    // pvpanic; console text alone, as user space can print it, must not crash the VM).
    const a = await inspect('iso-a');
    assert.ok(a.pid && a.pid !== daemon.pid, 'a process runner has its own pid');
    process.kill(a.pid, 'SIGKILL');
    await vm(['console', 'iso-b'], {
      input: ["echo 'Kernel panic - not syncing: fake'; echo PRINTED\n", '\x1d'],
    });
    assert.equal(
      (await inspect('iso-b')).state,
      'running',
      'a panic line printed by user space crashes nothing',
    );
    await vm(['console', 'iso-b'], { input: ['echo c > /proc/sysrq-trigger\n', '\x1d'] });

    const crashedA = await until('iso-a to be reported crashed', 30_000, async () => {
      const i = await inspect('iso-a');
      return i.state === 'crashed' ? i : undefined;
    });
    assert.match(crashedA.reason ?? '', /SIGKILL/);
    const crashedB = await until('iso-b to be reported crashed', 30_000, async () => {
      const i = await inspect('iso-b');
      return i.state === 'crashed' ? i : undefined;
    });
    assert.match(crashedB.reason ?? '', /^guest kernel panic: pvpanic: guest panicked/);

    // The neighbour never noticed: it still runs and answers on its console.
    assert.equal((await inspect('iso-c')).state, 'running');
    const r = await vm(['console', 'iso-c'], { input: ['echo alive-$((40+2))\n', '\x1d'] });
    assert.match(r.stdout, /alive-42/);
    assert.equal((await vm(['stop', 'iso-c'])).code, 0);
  });

  test('heterogeneous guests side by side: Linux, U-Boot on OpenSBI and a bare-metal program at once', {
    skip: !existsSync(UBOOT) && !process.env.CI ? 'Debian packages opensbi/u-boot-qemu not installed' : false,
  }, async () => {
    // The Debian stock kernel definition is refused (exit 1) unless it was fetched; the others are created.
    const r = await vm(['create', '-f', SIDE_BY_SIDE, '--start']);
    for (const name of ['linux', 'uboot', 'baremetal'])
      assert.match(r.stdout, new RegExp(`^${name}: running$`, 'm'));
    const expect: [string, RegExp][] = [
      ['linux', /~ # /],
      ['uboot', /=> /],
      ['baremetal', /tick \d+/],
    ];
    if (/^debian: running$/m.test(r.stdout)) expect.push(['debian', /~ # /]);
    for (const [name, prompt] of expect) {
      await until(`${name} to show ${prompt}`, 240_000, async () => {
        const l = await vm(['logs', name]);
        return prompt.test(l.stdout) ? true : undefined;
      });
    }
    const list = (await vm(['list'])).stdout;
    for (const [name] of expect) assert.match(list, new RegExp(`^${name}\\s+running`, 'm'));
    const names = expect.map(([name]) => name);
    assert.equal((await vm(['stop', ...names])).code, 0);
    assert.equal((await vm(['rm', ...names])).code, 0);
  });

  test('SIGTERM stops the daemon cleanly and removes the socket', async () => {
    const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0, daemonLog);
    assert.equal(existsSync(socket), false);
    // the log is JSON lines
    for (const line of daemonLog.trim().split('\n')) JSON.parse(line);
    assert.match(daemonLog, /typervisor daemon stopped/);
  });

  test('a restarted daemon keeps the definitions', async () => {
    daemon = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await until('the daemon socket', 30_000, async () => (existsSync(socket) ? true : undefined));
    const r = await until('the daemon to answer', 30_000, async () => {
      const l = await vm(['list']);
      return l.code === 0 ? l : undefined;
    });
    for (const name of ['iso-a', 'iso-b', 'iso-c'])
      assert.match(r.stdout, new RegExp(`^${name}\\s+stopped`, 'm'));
  });

  test('disk images come from the allowed roots only: serve --image-root DIR[,ro]', async () => {
    const images = mkdtempSync(join(tmpdir(), 'typervisor-images-'));
    try {
      const disk = join(images, 'disk.img');
      writeFileSync(disk, Buffer.alloc(1024 * 1024));
      const file = join(images, 'withdisk.json');
      const definition = (readOnly: boolean) =>
        JSON.stringify({
          name: 'withdisk',
          vcpus: 1,
          memoryMiB: 64,
          boot: {},
          disks: [{ path: disk, readOnly }],
        });
      writeFileSync(file, definition(false));
      let r = await vm(['create', '-f', file]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /disks\[0\]\.path: .*disk\.img: is outside the allowed image roots .*--image-root DIR/,
      );

      // The same daemon restarted with the directory as a read-only root, then as a writable one.
      const restart = async (...roots: string[]) => {
        const exited = new Promise((r) => daemon.once('exit', r));
        daemon.kill('SIGTERM');
        await exited;
        daemon = spawn(
          process.execPath,
          [CLI, 'serve', '--data-dir', dataDir, ...roots.flatMap((d) => ['--image-root', d])],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        await until('the daemon to answer', 30_000, async () =>
          (await vm(['list'])).code === 0 ? true : undefined,
        );
      };
      await restart(`${images},ro`);
      r = await vm(['create', '-f', file]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /is under a read-only image root/);
      writeFileSync(file, definition(true));
      r = await vm(['create', '-f', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await vm(['rm', 'withdisk'])).code, 0);
      await restart(images);
      writeFileSync(file, definition(false));
      r = await vm(['create', '-f', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await vm(['rm', 'withdisk'])).code, 0);
    } finally {
      rmSync(images, { recursive: true, force: true });
    }
  });
});

test('an unreachable daemon: exit 69 with a hint to run `typervisor serve`', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-nodaemon-'));
  try {
    const r = await cli(['vm', 'list'], { env: { TYPERVISOR_SOCKET: join(dir, 'none.sock') } });
    assert.equal(r.code, 69);
    assert.match(r.stderr, /cannot connect to the typervisor daemon/);
    assert.match(r.stderr, /typervisor serve/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve refuses TCP without a token file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-notoken-'));
  try {
    let r = await cli(['serve', '--data-dir', dir, '--listen', '127.0.0.1:18080']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--listen needs --token-file/);
    r = await cli(['serve', '--data-dir', dir, '--listen', 'localhost']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not HOST:PORT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('VM files: several YAML documents, paths relative to the file', () => {
  const specs = readVmFile(join(REPO_ROOT, 'examples', 'side-by-side.yaml'));
  assert.deepEqual(
    specs.map((s) => s.name),
    ['linux', 'uboot', 'baremetal', 'debian'],
  );
  const bare = specs[2];
  assert.equal(bare.boot.firmware, 'none');
  assert.equal(bare.boot.kernel, join(REPO_ROOT, 'examples', 'baremetal', 'ticker.elf'));
  assert.ok(existsSync(bare.boot.kernel as string));
  assert.equal(specs[3].boot.kernel, join(REPO_ROOT, 'build', 'linux', 'debian-kernel', 'Image'));
  assert.equal(specs[1].boot.firmware, '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin');
  assert.deepEqual(readVmFile(EXAMPLE), [
    { name: 'default', vcpus: 1, memoryMiB: 64, boot: { cmdline: 'console=ttyS0' }, runner: 'process' },
  ]);
});

test('vm list: an aligned table', () => {
  const table = formatVmList([
    { spec: { name: 'web', vcpus: 1, memoryMiB: 2048, boot: {} }, state: 'stopped' },
    {
      spec: { name: 'a-longer-name', vcpus: 1, memoryMiB: 64, boot: {} },
      state: 'running',
      uptimeSeconds: 3725,
      metrics: {
        instructions: 1,
        mips: 123.456,
        guestRamBytes: 0,
        hostRssBytes: 0,
        diskReadBytes: 0,
        diskWriteBytes: 0,
        netRxBytes: 0,
        netTxBytes: 0,
        cpuSeconds: 0,
      },
    },
  ]);
  assert.equal(
    table,
    [
      'NAME           STATE    VCPUS  MEMORY  UPTIME   MIPS',
      'a-longer-name  running      1  64 MiB   1h02m  123.5',
      'web            stopped      1   2 GiB       -      -',
      '',
    ].join('\n'),
  );
});
