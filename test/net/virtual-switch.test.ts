import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NetBackend } from '../../src/net/net-backend.js';
import { SwitchRegistry, VirtualSwitch } from '../../src/net/virtual-switch.js';

const BROADCAST = 'ff:ff:ff:ff:ff:ff';

function mac(text: string): number[] {
  return text.split(':').map((h) => Number.parseInt(h, 16));
}

function eth(dst: string, src: string, payload = 'hi'): Uint8Array {
  return Uint8Array.from([...mac(dst), ...mac(src), 0x08, 0x00, ...Buffer.from(payload)]);
}

/** A port with what it received. */
function attach(sw: VirtualSwitch, label: string): { port: NetBackend; got: Uint8Array[] } {
  const port = sw.connect(label);
  const got: Uint8Array[] = [];
  port.onReceive = (f) => got.push(f);
  return { port, got };
}

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const C = '52:54:00:00:00:0c';

test('unknown unicast and broadcast flood to every other port, never back to the sender', () => {
  const sw = new VirtualSwitch('lan');
  const a = attach(sw, 'a');
  const b = attach(sw, 'b');
  const c = attach(sw, 'c');
  assert.equal(a.port.linkUp, true);
  const bcast = eth(BROADCAST, A);
  a.port.send(bcast);
  assert.deepEqual([a.got.length, b.got.length, c.got.length], [0, 1, 1]);
  assert.equal(b.got[0], bcast);
  a.port.send(eth(B, A));
  assert.deepEqual([a.got.length, b.got.length, c.got.length], [0, 2, 2], 'B not learnt yet: flood');
  // Multicast (IPv6 neighbour discovery, say) floods too.
  a.port.send(eth('33:33:00:00:00:01', A));
  assert.deepEqual([a.got.length, b.got.length, c.got.length], [0, 3, 3]);
});

test('learnt addresses get unicast only to their port', () => {
  const sw = new VirtualSwitch('lan');
  const a = attach(sw, 'a');
  const b = attach(sw, 'b');
  const c = attach(sw, 'c');
  b.port.send(eth(BROADCAST, B));
  c.port.send(eth(BROADCAST, C));
  a.got.length = 0;
  b.got.length = 0;
  c.got.length = 0;
  a.port.send(eth(B, A, 'to b'));
  assert.deepEqual([a.got.length, b.got.length, c.got.length], [0, 1, 0]);
  b.port.send(eth(A, B, 'to a'));
  assert.deepEqual([a.got.length, b.got.length, c.got.length], [1, 1, 0], 'A was learnt from its frame');
  // A frame for an address behind the sender's own port is filtered.
  b.port.send(eth(B, B));
  assert.deepEqual([a.got.length, b.got.length, c.got.length], [1, 1, 0]);
});

test('an address that moves is learnt on its new port', () => {
  const sw = new VirtualSwitch('lan');
  const a = attach(sw, 'a');
  const b = attach(sw, 'b');
  const c = attach(sw, 'c');
  b.port.send(eth(BROADCAST, B));
  c.port.send(eth(BROADCAST, B));
  a.got.length = 0;
  b.got.length = 0;
  c.got.length = 0;
  a.port.send(eth(B, A));
  assert.deepEqual([b.got.length, c.got.length], [0, 1]);
});

test('a multicast source address is not learnt', () => {
  const sw = new VirtualSwitch('lan');
  const a = attach(sw, 'a');
  const b = attach(sw, 'b');
  const c = attach(sw, 'c');
  b.port.send(eth(BROADCAST, '01:00:5e:00:00:01'));
  a.port.send(eth('01:00:5e:00:00:01', A));
  assert.deepEqual([b.got.length, c.got.length], [1, 2], 'still flooded');
});

test('runt frames are dropped', () => {
  const sw = new VirtualSwitch('lan');
  const a = attach(sw, 'a');
  const b = attach(sw, 'b');
  a.port.send(new Uint8Array(10));
  assert.equal(b.got.length, 0);
  assert.equal(sw.framesDropped, 1);
});

test('a closed port leaves the switch and its addresses are forgotten', async () => {
  const sw = new VirtualSwitch('lan');
  const a = attach(sw, 'a');
  const b = attach(sw, 'b');
  const c = attach(sw, 'c');
  b.port.send(eth(BROADCAST, B));
  await b.port.close();
  assert.equal(b.port.linkUp, false);
  assert.equal(sw.portCount, 2);
  b.got.length = 0;
  a.port.send(eth(B, A));
  assert.equal(b.got.length, 0);
  assert.equal(c.got.length, 2, 'B is unknown again: flooded to the remaining port');
  const before = a.got.length;
  b.port.send(eth(BROADCAST, B));
  assert.equal(a.got.length, before, 'a closed port sends nothing');
  await b.port.close();
});

test('switches are separate networks; the registry hands out one switch per name', () => {
  const reg = new SwitchRegistry();
  assert.equal(reg.get('lan'), reg.get('lan'));
  assert.notEqual(reg.get('lan'), reg.get('dmz'));
  const a = attach(reg.get('lan'), 'a');
  const b = attach(reg.get('lan'), 'b');
  const c = attach(reg.get('dmz'), 'c');
  a.port.send(eth(BROADCAST, A));
  assert.equal(b.got.length, 1);
  assert.equal(c.got.length, 0);
  c.port.send(eth(BROADCAST, C));
  assert.equal(a.got.length + b.got.length, 1);
  assert.match(a.port.name, /lan/);
});

test('the learnt table is bounded', () => {
  const sw = new VirtualSwitch('lan');
  const a = attach(sw, 'a');
  const b = attach(sw, 'b');
  b.port.send(eth(BROADCAST, B));
  // Many random sources from A push B's entry out; B then gets flooded frames again, which still works.
  for (let i = 0; i < 5000; i++) {
    const src = `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    a.port.send(eth(BROADCAST, src));
  }
  b.got.length = 0;
  a.port.send(eth(B, A));
  assert.equal(b.got.length, 1);
});
