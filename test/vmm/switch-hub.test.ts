import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseMac } from '../../src/net/mac.js';
import type { NetBackend } from '../../src/net/net-backend.js';
import { type HubNic, hubSwitchPorts, SwitchHub } from '../../src/vmm/switch-hub.js';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const C = '52:54:00:00:00:0c';
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

const bytes = (mac: string): number[] => mac.split(':').map((h) => Number.parseInt(h, 16));

function eth(dst: string, src: string, payload = 'hi'): Uint8Array {
  return Uint8Array.from([...bytes(dst), ...bytes(src), 0x08, 0x00, ...Buffer.from(payload)]);
}

async function until(what: string, done: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const started = Date.now();
  while (!(await done())) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Nic {
  port: NetBackend;
  got: Uint8Array[];
}

/** A runner's NIC, connected as runner.ts connects it: through hubSwitchPorts with its admission. */
function plug(nics: HubNic[], mac: string): Nic {
  const port = hubSwitchPorts(nics).get('lan').connect('test nic', parseMac(mac, 'mac'));
  const got: Uint8Array[] = [];
  port.onReceive = (f) => got.push(f);
  return { port, got };
}

function setup(): { hub: SwitchHub; dir: string; logs: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'tv-hub-'));
  const logs: string[] = [];
  return { hub: new SwitchHub(dir, (m) => logs.push(m)), dir, logs };
}

async function ports(hub: SwitchHub): Promise<number> {
  return (await hub.counters('lan'))?.ports ?? 0;
}

/** A raw client of the switch socket that speaks the framing but never says a proper hello. */
function raw(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function frameBytes(frame: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, 4);
  return out;
}

test("through the hub, a NIC cannot send from a neighbour's MAC: its spoofed frames are dropped and counted", async () => {
  const { hub, dir, logs } = setup();
  const nics: Nic[] = [];
  try {
    const [na] = await hub.admit('vm-a', [{ switch: 'lan', mac: parseMac(A, 'a') }]);
    const [nb] = await hub.admit('vm-b', [{ switch: 'lan', mac: parseMac(B, 'b') }]);
    const [nc] = await hub.admit('vm-evil', [{ switch: 'lan', mac: parseMac(C, 'c') }]);
    const a = plug([na], A);
    const b = plug([nb], B);
    const evil = plug([nc], C);
    nics.push(a, b, evil);
    await until('three ports', async () => (await ports(hub)) === 3);

    // The attacker claims B's address, then floods random source addresses.
    evil.port.send(eth(BROADCAST, B, 'i am b'));
    for (let i = 0; i < 2000; i++) {
      const src = `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      evil.port.send(eth(BROADCAST, src));
    }
    a.port.send(eth(B, A, 'secret for b'));
    await until('b gets its unicast', () => b.got.length === 1);
    // A broadcast after the unicast: once the attacker has it, the unicast would have come before it.
    a.port.send(eth(BROADCAST, A, 'sentinel'));
    await until('the sentinel', () => evil.got.length >= 1 && b.got.length === 2);
    assert.deepEqual(
      evil.got.map((f) => Buffer.from(f.subarray(14)).toString()),
      ['sentinel'],
      'the attacker saw neither the unicast nor anything else',
    );
    assert.equal(a.got.length, 0, 'none of the spoofed broadcasts reached A');
    const counters = await hub.counters('lan');
    assert.equal(counters?.spoofed, 2001);
    assert.equal(counters?.ports, 3);
    assert.equal(logs.filter((l) => /dropped a frame from/.test(l)).length, 1, 'one log line, then counting');
  } finally {
    await Promise.all(nics.map((n) => n.port.close()));
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a connection without a valid hello gets no port; a released VM's token no longer works", async () => {
  const { hub, dir } = setup();
  const nics: Nic[] = [];
  const sockets: Socket[] = [];
  try {
    const [nb] = await hub.admit('vm-b', [{ switch: 'lan', mac: parseMac(B, 'b') }]);
    const [nc] = await hub.admit('vm-c', [{ switch: 'lan', mac: parseMac(C, 'c') }]);
    const b = plug([nb], B);
    nics.push(b);
    await until('b connected', async () => (await ports(hub)) === 1);

    // Plain frames straight away (a QEMU -netdev stream, say), then a made-up token.
    const noHello = await raw(nb.socket);
    sockets.push(noHello);
    noHello.write(frameBytes(eth(BROADCAST, C)));
    const badToken = await raw(nb.socket);
    sockets.push(badToken);
    badToken.write(frameBytes(Buffer.from(`typervisor-switch-port ${'0'.repeat(64)}`)));
    badToken.write(frameBytes(eth(BROADCAST, C)));
    await until('both refused', async () => (await hub.counters('lan'))?.refused === 2);

    // A token works only while its VM is admitted; release also cuts the live connection.
    const c = plug([nc], C);
    nics.push(c);
    await until('c connected', async () => (await ports(hub)) === 2);
    hub.release('vm-c');
    await until('c cut off', async () => (await ports(hub)) === 1);
    const stale = await raw(nc.socket);
    sockets.push(stale);
    stale.write(frameBytes(Buffer.from(`typervisor-switch-port ${nc.token}`)));
    stale.write(frameBytes(eth(BROADCAST, C)));
    await until('the stale token refused', async () => (await hub.counters('lan'))?.refused === 3);
    assert.equal(await ports(hub), 1);
    assert.equal(b.got.length, 0, 'no frame of an unadmitted connection reached B');
  } finally {
    for (const s of sockets) s.destroy();
    await Promise.all(nics.map((n) => n.port.close()));
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('connections waiting for their hello are capped per switch', async () => {
  const { hub, dir } = setup();
  const sockets: Socket[] = [];
  try {
    const path = await hub.ensure('lan');
    for (let i = 0; i < 40; i++) sockets.push(await raw(path));
    await until('24 refused at once', async () => (await hub.counters('lan'))?.refused === 24);
    const closed = sockets.filter((s) => s.readyState === 'closed' || s.destroyed).length;
    assert.ok(closed <= 24, `${closed} closed`);
    assert.equal((await hub.counters('lan'))?.refused, 24, 'the 16 others wait for their hello');
  } finally {
    for (const s of sockets) s.destroy();
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a MAC is admitted once per switch: a second VM with it is refused, naming the first', async () => {
  const { hub, dir } = setup();
  try {
    await hub.admit('vm-a', [{ switch: 'lan', mac: parseMac(A, 'a') }]);
    await assert.rejects(
      hub.admit('vm-b', [
        { switch: 'dmz', mac: parseMac(B, 'b') },
        { switch: 'lan', mac: parseMac(A, 'a') },
      ]),
      /nics\[1\]\.mac: 52:54:00:00:00:0a is already on switch lan \(vm-a nic 0\)/,
    );
    await assert.rejects(
      hub.admit('vm-c', [
        { switch: 'dmz', mac: parseMac(C, 'c') },
        { switch: 'dmz', mac: parseMac(C, 'c') },
      ]),
      /nics\[1\]\.mac: 52:54:00:00:00:0c is also nics\[0\]'s/,
    );
    // Nothing of a refused admission sticks: B and C are free on dmz.
    const ok = await hub.admit('vm-d', [
      { switch: 'dmz', mac: parseMac(B, 'b') },
      { switch: 'dmz', mac: parseMac(C, 'c') },
      { switch: 'other', mac: parseMac(A, 'a') },
    ]);
    assert.equal(ok.length, 3);
    assert.notEqual(ok[0].token, ok[1].token);
    hub.release('vm-a');
    await hub.admit('vm-b', [{ switch: 'lan', mac: parseMac(A, 'a') }]);
  } finally {
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a runner that dials again takes its port over from its old connection', async () => {
  const { hub, dir } = setup();
  const nics: Nic[] = [];
  let old: Socket | null = null;
  try {
    const [na] = await hub.admit('vm-a', [{ switch: 'lan', mac: parseMac(A, 'a') }]);
    const [nb] = await hub.admit('vm-b', [{ switch: 'lan', mac: parseMac(B, 'b') }]);
    const b = plug([nb], B);
    nics.push(b);
    // The old connection: still open as far as the hub knows.
    const oldSocket = await raw(na.socket);
    old = oldSocket;
    const oldClosed = new Promise<void>((resolve) => oldSocket.once('close', () => resolve()));
    oldSocket.write(frameBytes(Buffer.from(`typervisor-switch-port ${na.token}`)));
    await until('two ports', async () => (await ports(hub)) === 2);
    const a = plug([na], A);
    nics.push(a);
    await oldClosed;
    await until('two ports again', async () => (await ports(hub)) === 2);
    b.port.send(eth(A, B, 'to a'));
    await until("the new connection gets A's unicast", () => a.got.length === 1);
    assert.equal((await hub.counters('lan'))?.refused, 0);
  } finally {
    old?.destroy();
    await Promise.all(nics.map((n) => n.port.close()));
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
