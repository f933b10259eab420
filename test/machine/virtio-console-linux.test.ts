/**
 * virtio-console against the real Linux driver: hvc0 as the guest's console, and a named port whose
 * host side is a Unix socket this test connects to.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GuestSession, REPO_ROOT } from './guest-session.js';

const IMAGE = join(REPO_ROOT, 'images', 'linux', 'Image.gz');
const INITRD = join(REPO_ROOT, 'images', 'linux', 'initramfs.cpio.gz');
const PROMPT = '~ # ';
const haveGuest = existsSync(IMAGE) && existsSync(INITRD);
const skip = !haveGuest && !process.env.CI ? 'images/linux not built' : false;

test('--console virtio: the shell runs on hvc0', { skip, timeout: 300_000 }, async () => {
  assert.ok(haveGuest, 'CI needs the committed default guest in images/linux');
  const vm = new GuestSession(['run', '--console', 'virtio', '--append', 'console=hvc0']);
  try {
    await vm.waitFor(PROMPT, 240_000);
    await vm.command('dmesg -n 1', PROMPT);
    assert.equal(await vm.command('tty', PROMPT), '/dev/hvc0\n');
    assert.equal(await vm.command('cat /sys/class/tty/console/active', PROMPT), 'hvc0\n');
    // A burst larger than one receive buffer and one transmit buffer goes through whole, both ways.
    const line = 'x'.repeat(900);
    assert.equal(await vm.command(`echo ${line} | wc -c`, PROMPT), '901\n');
    const out = await vm.command('i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i + 1)); done', PROMPT);
    assert.equal(out, Array.from({ length: 200 }, (_, i) => `line${i}\n`).join(''));
    vm.send('poweroff -f\n');
    assert.equal(await vm.exited, 0, 'a guest poweroff ends the VM with status 0');
  } finally {
    vm.kill();
  }
});

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once('error', reject);
  });
}

test('--port NAME,socket=PATH: a named port carries data between the guest and a host socket', {
  skip,
  timeout: 300_000,
}, async (t) => {
  assert.ok(haveGuest, 'CI needs the committed default guest in images/linux');
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-vport-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'data.sock');
  const vm = new GuestSession(['run', '--port', `org.test.data,socket=${sock}`]);
  let client: Socket | undefined;
  try {
    await vm.waitFor(PROMPT, 240_000);
    // Kernel warnings (an hrtimer late on a loaded host) must not land inside the output compared below.
    await vm.command('dmesg -n 1', PROMPT);
    // Port 0 is the (unattached) console port; the named port is the device's second port.
    assert.equal(await vm.command('cat /sys/class/virtio-ports/vport0p1/name', PROMPT), 'org.test.data\n');
    assert.match(await vm.command('ls /dev/vport0p1', PROMPT), /^\/dev\/vport0p1\n$/);

    client = await dial(sock);
    let received = Buffer.alloc(0);
    client.on('data', (b: Buffer) => {
      received = Buffer.concat([received, b]);
    });
    // The guest's write waits until it hears the host side is connected.
    await vm.command('echo hello > /dev/vport0p1', PROMPT);
    await waitUntil(
      () => received.length >= 6,
      10_000,
      () => `host got ${JSON.stringify(received.toString())}`,
    );
    assert.equal(received.toString(), 'hello\n');

    // Bytes sent while the guest has the port closed wait for the guest to open it.
    client.write('from the host');
    assert.equal(await vm.command('timeout 20 head -c 13 /dev/vport0p1; echo', PROMPT), 'from the host\n');

    // Bulk both ways: many buffers, not a single one.
    const size = 200_000;
    received = Buffer.alloc(0);
    await vm.command(`head -c ${size} /dev/zero | tr '\\0' z > /dev/vport0p1`, PROMPT);
    await waitUntil(
      () => received.length >= size,
      20_000,
      () => `host got ${received.length} bytes`,
    );
    assert.equal(received.length, size);
    assert.ok(received.every((b) => b === 0x7a));
    const reading = vm.command(
      `timeout 30 head -c ${size} /dev/vport0p1 > /tmp/in; wc -c < /tmp/in; tr -d y < /tmp/in | wc -c`,
      PROMPT,
    );
    client.write(Buffer.alloc(size, 'y'.charCodeAt(0)));
    assert.match(await reading, new RegExp(`^\\s*${size}\n\\s*0\n$`), 'every byte arrived as sent');

    vm.send('poweroff -f\n');
    assert.equal(await vm.exited, 0);
    assert.equal(existsSync(sock), false, 'the socket file is removed when the VM ends');
  } finally {
    client?.destroy();
    vm.kill();
  }
});

async function waitUntil(check: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
