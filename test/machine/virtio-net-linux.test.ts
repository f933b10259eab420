import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { VirtioNet, type VirtioNetState } from '../../src/machine/devices/virtio/net.js';
import { SwitchRegistry } from '../../src/net/virtual-switch.js';
import { ChildVm, GuestSession, PROMPT } from './guest-session.js';
import { DEFAULT_INITRD, DEFAULT_KERNEL, InProcessVm } from './in-process-vm.js';

const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
const haveGuest = existsSync(DEFAULT_KERNEL) && existsSync(DEFAULT_INITRD);
const BOOT_MS = 240_000;

function haveQemu(): boolean {
  try {
    execFileSync('qemu-system-riscv64', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function mac(last: number): Uint8Array {
  return Uint8Array.from([0x52, 0x54, 0x00, 0x00, 0x00, last]);
}

function nicState(vm: InProcessVm): VirtioNetState {
  return vm.machine.virtio[0].device.saveState() as VirtioNetState;
}

async function configure(vm: ChildVm | InProcessVm | GuestSession, address: string): Promise<void> {
  const cmd = `ip addr add ${address}/24 dev eth0 && ip link set eth0 up && echo configured`;
  const out = await vm.command(cmd);
  assert.match(out, /configured\n/);
}

test('VMs on one switch ping each other and move a file; a VM on another switch reaches neither', {
  skip: !haveGuest && !process.env.CI ? 'images/linux not built' : false,
  timeout: 400_000,
}, async () => {
  const switches = new SwitchRegistry();
  const nic = (switchName: string, label: string, last: number): VirtioNet =>
    new VirtioNet(switches.get(switchName).connect(label, mac(last)), { mac: mac(last) });
  const a = new InProcessVm('a', { virtio: [nic('lan', 'a', 1)] });
  const b = new InProcessVm('b', { virtio: [nic('lan', 'b', 2)] });
  const c = new InProcessVm('c', { virtio: [nic('other', 'c', 3)] });
  const vms = [a, b, c];
  try {
    await Promise.all(vms.map((vm) => vm.waitFor(PROMPT, BOOT_MS)));
    assert.match(
      await a.command('cat /sys/class/net/eth0/address /sys/class/net/eth0/carrier 2>&1'),
      /^52:54:00:00:00:01\n(1\n)?/,
    );
    await configure(a, '10.0.0.1');
    await configure(b, '10.0.0.2');
    await configure(c, '10.0.0.3');
    assert.match(await a.command('cat /sys/class/net/eth0/carrier'), /^1\n/, 'a switch port is always up');

    const ab = await a.command('ping -c 3 -i 0.2 -W 5 10.0.0.2');
    assert.match(ab, /3 packets transmitted, 3 packets received, 0% packet loss/);
    const ba = await b.command('ping -c 2 -i 0.2 -W 5 10.0.0.1');
    assert.match(ba, /2 packets transmitted, 2 packets received, 0% packet loss/);

    // A file of random bytes over HTTP (TCP, full-size frames in both queues' batches).
    const served = await b.command(
      'mkdir -p /tmp/www && dd if=/dev/urandom of=/tmp/www/blob bs=1024 count=1024 2>/dev/null && ' +
        'sha256sum /tmp/www/blob && httpd -p 8080 -h /tmp/www && echo serving',
    );
    assert.match(served, /serving\n/);
    const sum = /^([0-9a-f]{64}) /m.exec(served)?.[1];
    assert.ok(sum, `no checksum in ${served}`);
    const fetched = await a.command(
      'wget -q -O /tmp/blob http://10.0.0.2:8080/blob && sha256sum /tmp/blob',
      PROMPT,
      120_000,
    );
    assert.equal(/^([0-9a-f]{64}) /m.exec(fetched)?.[1], sum, `fetched: ${fetched}`);

    // The third VM's frames leave its NIC and show on its own switch, but never on the other one: a
    // listening port on each switch sees every broadcast there (ARP requests are broadcasts).
    const fromC = (switchName: string): (() => number) => {
      const monitor = switches.get(switchName).connect('monitor', mac(0xee));
      let seen = 0;
      monitor.onReceive = (f) => {
        if (f[6] === 0x52 && f[7] === 0x54 && f[8] === 0 && f[9] === 0 && f[10] === 0 && f[11] === 3) seen++;
      };
      return () => seen;
    };
    const onLan = fromC('lan');
    const onOther = fromC('other');
    const cBefore = nicState(c).txPackets;
    const ca = await c.command('ping -c 2 -i 0.2 -W 1 10.0.0.1; ping -c 1 -W 1 10.0.0.2; echo done');
    assert.match(ca, /2 packets transmitted, 0 packets received, 100% packet loss/);
    assert.match(ca, /1 packets transmitted, 0 packets received, 100% packet loss/);
    assert.ok(nicState(c).txPackets > cBefore, 'c sent ARP requests');
    assert.ok(onOther() > 0, "c's frames are on its switch");
    assert.equal(onLan(), 0, 'no frame from c reached the other switch');

    for (const vm of vms) {
      assert.deepEqual(vm.logs, [], `${vm.label}: no device errors`);
      const s = nicState(vm);
      assert.equal(s.txDropped, 0, `${vm.label}: no frames dropped on transmit`);
    }
    assert.ok(nicState(a).rxBytes >= 1024 * 1024, 'the file came through a');
  } finally {
    await Promise.all(vms.map((vm) => vm.stop()));
  }
});

/** A port nobody listens on right now (the system's choice for port 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

const qemuPresent = haveQemu();
test('a Typervisor VM (--net listen=) and a QEMU VM (-netdev socket,connect=) ping each other', {
  skip:
    (!haveGuest || !qemuPresent || !existsSync(OPENSBI)) && !process.env.CI
      ? 'needs images/linux, qemu-system-riscv64 (qemu-system-misc) and opensbi'
      : false,
  timeout: 400_000,
}, async () => {
  assert.ok(haveGuest && qemuPresent && existsSync(OPENSBI), 'CI needs the guest, QEMU and opensbi');
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-net-'));
  // QEMU 7.2 boots only an uncompressed Image.
  const image = join(dir, 'Image');
  writeFileSync(image, gunzipSync(readFileSync(DEFAULT_KERNEL)));
  const port = await freePort();
  // OpenSBI rather than the built-in SBI: it lets U-mode read the time CSR, which ping's clock needs.
  const tv = new GuestSession([
    'run',
    '--bios',
    OPENSBI,
    '--net',
    `listen=127.0.0.1:${port},mac=52:54:00:00:00:01`,
  ]);
  let qemu: ChildVm | undefined;
  try {
    // Devices are set up before the VM prints anything: from then on the socket listens.
    await tv.waitFor(/\S/, 60_000);
    qemu = new ChildVm('qemu', 'qemu-system-riscv64', [
      ...['-M', 'virt', '-m', '256M', '-nographic', '-bios', 'default'],
      ...['-kernel', image, '-initrd', DEFAULT_INITRD, '-append', 'console=ttyS0'],
      ...['-netdev', `socket,id=n0,connect=127.0.0.1:${port}`],
      ...['-device', 'virtio-net-device,netdev=n0,mac=52:54:00:00:00:02'],
    ]);
    await Promise.all([tv.waitFor(PROMPT, BOOT_MS), qemu.waitFor(PROMPT, BOOT_MS)]);
    await configure(tv, '10.0.1.1');
    await configure(qemu, '10.0.1.2');
    assert.match(await tv.command('cat /sys/class/net/eth0/carrier', PROMPT), /^1\n/);
    const fromQemu = await qemu.command('ping -c 3 -i 0.2 -W 5 10.0.1.1');
    assert.match(fromQemu, /3 packets transmitted, 3 packets received, 0% packet loss/);
    const fromTv = await tv.command('ping -c 3 -i 0.2 -W 5 10.0.1.2', PROMPT);
    assert.match(fromTv, /3 packets transmitted, 3 packets received, 0% packet loss/);
    // Pulling the other end takes the link down in the Typervisor guest (a configuration interrupt).
    qemu.kill();
    await qemu.exited;
    let carrier = '';
    for (let i = 0; i < 50 && carrier !== '0'; i++) {
      carrier = (await tv.command('cat /sys/class/net/eth0/carrier', PROMPT)).trim();
      if (carrier !== '0') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(carrier, '0', 'carrier lost when the peer went away');
    tv.send('poweroff -f\n');
    assert.equal(await tv.exited, 0);
  } finally {
    qemu?.kill();
    tv.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
