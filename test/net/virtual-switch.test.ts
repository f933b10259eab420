import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMac } from '../../src/net/mac.js';
import type { NetBackend } from '../../src/net/net-backend.js';
import { MAX_SWITCH_PORTS, SwitchRegistry, VirtualSwitch } from '../../src/net/virtual-switch.js';

const BROADCAST = 'ff:ff:ff:ff:ff:ff';

function mac(text: string): number[] {
  return text.split(':').map((h) => Number.parseInt(h, 16));
}

function eth(dst: string, src: string, payload = 'hi'): Uint8Array {
  return Uint8Array.from([...mac(dst), ...mac(src), 0x08, 0x00, ...Buffer.from(payload)]);
}

/** A port bound to `address`, with what it received. */
function attach(sw: VirtualSwitch, label: string, address: string): { port: NetBackend; got: Uint8Array[] } {
  const port = sw.connect(label, parseMac(address, label));
  const got: Uint8Array[] = [];
  port.onReceive = (f) => got.push(f);
  return { port, got };
}

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const C = '52:54:00:00:00:0c';

function lan(): {
  sw: VirtualSwitch;
  a: ReturnType<typeof attach>;
  b: ReturnType<typeof attach>;
  c: ReturnType<typeof attach>;
} {
  const sw = new VirtualSwitch('lan');
  return { sw, a: attach(sw, 'a', A), b: attach(sw, 'b', B), c: attach(sw, 'c', C) };
}

const counts = (...ports: { got: Uint8Array[] }[]): number[] => ports.map((p) => p.got.length);

/** A random unicast address (a multicast one would be dropped for that reason alone). */
function randomMacText(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  bytes[0] &= 0xfe;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

test('broadcast and multicast flood to every other port, never back to the sender', () => {
  const { sw, a, b, c } = lan();
  assert.equal(a.port.linkUp, true);
  const bcast = eth(BROADCAST, A);
  a.port.send(bcast);
  assert.deepEqual(counts(a, b, c), [0, 1, 1]);
  assert.equal(b.got[0], bcast);
  // Multicast (IPv6 neighbour discovery, say) floods too.
  a.port.send(eth('33:33:00:00:00:01', A));
  assert.deepEqual(counts(a, b, c), [0, 2, 2]);
  assert.equal(sw.counters.flooded, 2);
});

test('unicast goes only to the port bound to the destination, from the first frame on', () => {
  const { sw, a, b, c } = lan();
  a.port.send(eth(B, A, 'to b'));
  assert.deepEqual(counts(a, b, c), [0, 1, 0], 'no learning needed: B is known from its port');
  b.port.send(eth(A, B, 'to a'));
  assert.deepEqual(counts(a, b, c), [1, 1, 0]);
  // A frame for the sender's own address is filtered.
  b.port.send(eth(B, B));
  assert.deepEqual(counts(a, b, c), [1, 1, 0]);
  assert.deepEqual(sw.counters, { forwarded: 2, flooded: 0, dropped: 1, spoofed: 0, unknownDestination: 0 });
});

test('unicast to an address no port owns is dropped and counted, not flooded', () => {
  const { sw, a, b, c } = lan();
  for (let i = 0; i < 100; i++) a.port.send(eth('52:54:00:99:00:01', A));
  assert.deepEqual(counts(a, b, c), [0, 0, 0]);
  assert.equal(sw.counters.unknownDestination, 100);
});

test("a frame with a neighbour as its source is dropped: it cannot divert the neighbour's unicast", () => {
  const logs: string[] = [];
  const sw = new VirtualSwitch('lan', (m) => logs.push(m));
  const a = attach(sw, 'a', A);
  const b = attach(sw, 'b', B);
  const attacker = attach(sw, 'attacker', C);
  // On a learning switch this one frame would move B's entry to the attacker's port.
  attacker.port.send(eth(BROADCAST, B, 'i am b'));
  attacker.port.send(eth(A, B, 'i am b'));
  assert.deepEqual(counts(a, b), [0, 0], 'the spoofed frames reach nobody');
  a.port.send(eth(B, A, 'secret for b'));
  assert.deepEqual(counts(b, attacker), [1, 0], "B's unicast still goes to B alone");
  assert.equal(sw.counters.spoofed, 2);
  assert.equal((attacker.port as { framesSpoofed?: number }).framesSpoofed, 2);
  assert.equal(logs.length, 1, 'the first spoofed frame of a port is logged, the rest only counted');
  assert.match(logs[0], /attacker, 52:54:00:00:00:0c.*dropped a frame from 52:54:00:00:00:0b/);
});

test('a flood of random source addresses leaves the table at one entry per port and floods nothing', () => {
  const { sw, a, b, c: attacker } = lan();
  const FLOOD = 10_000;
  for (let i = 0; i < FLOOD; i++) {
    const src = randomMacText();
    attacker.port.send(eth(BROADCAST, src));
    attacker.port.send(eth(B, src));
  }
  assert.equal(sw.tableSize, 3, 'the table holds exactly the three bound addresses');
  assert.deepEqual(counts(a, b), [0, 0], 'none of the flood reached a neighbour');
  assert.equal(sw.counters.spoofed, 2 * FLOOD);
  a.port.send(eth(B, A));
  b.port.send(eth(A, B));
  assert.deepEqual(
    counts(a, b, attacker),
    [1, 1, 0],
    "the neighbours' unicast is not flooded to the attacker",
  );
  // A multicast source address is spoofed too: no port is bound to one.
  attacker.port.send(eth(BROADCAST, '01:00:5e:00:00:01'));
  assert.equal(sw.counters.spoofed, 2 * FLOOD + 1);
});

test('a port needs a unicast MAC of its own: multicast, short or duplicate addresses are refused', () => {
  const sw = new VirtualSwitch('lan');
  attach(sw, 'a', A);
  assert.throws(
    () =>
      sw.connect(
        'm',
        parseMac('52:54:00:00:00:01', 'x').map((v, i) => (i === 0 ? 1 : v)),
      ),
    /multicast/,
  );
  assert.throws(() => sw.connect('short', new Uint8Array(5)), /6 bytes, not 5/);
  assert.throws(
    () => sw.connect('dup', parseMac(A, 'x')),
    /switch lan \(dup\): mac 52:54:00:00:00:0a is already on this switch \(switch lan \(a, /,
  );
  assert.equal(sw.portCount, 1);
});

test('the port count, and so the table, is capped per switch', () => {
  const sw = new VirtualSwitch('big');
  for (let i = 0; i < MAX_SWITCH_PORTS; i++) {
    sw.connect(`p${i}`, Uint8Array.of(0x52, 0x54, 0, 1, i >> 8, i & 0xff));
  }
  assert.equal(sw.portCount, MAX_SWITCH_PORTS);
  assert.throws(() => sw.connect('one more', Uint8Array.of(0x52, 0x54, 0, 2, 0, 0)), /maximum of 1024 ports/);
  assert.equal(sw.tableSize, MAX_SWITCH_PORTS);
});

test('runt frames are dropped', () => {
  const { sw, a, b } = lan();
  a.port.send(new Uint8Array(10));
  assert.equal(b.got.length, 0);
  assert.equal(sw.counters.dropped, 1);
});

test('a closed port leaves the switch; its address is free again and unicast to it is dropped', async () => {
  const { sw, a, b, c } = lan();
  await b.port.close();
  assert.equal(b.port.linkUp, false);
  assert.equal(sw.portCount, 2);
  assert.equal(sw.tableSize, 2);
  a.port.send(eth(B, A));
  assert.deepEqual(counts(b, c), [0, 0]);
  assert.equal(sw.counters.unknownDestination, 1);
  const before = a.got.length;
  b.port.send(eth(BROADCAST, B));
  assert.equal(a.got.length, before, 'a closed port sends nothing');
  await b.port.close();
  const b2 = attach(sw, 'b again', B);
  a.port.send(eth(B, A));
  assert.equal(b2.got.length, 1);
});

test('switches are separate networks; the registry hands out one switch per name', () => {
  const reg = new SwitchRegistry();
  assert.equal(reg.get('lan'), reg.get('lan'));
  assert.notEqual(reg.get('lan'), reg.get('dmz'));
  const a = attach(reg.get('lan'), 'a', A);
  const b = attach(reg.get('lan'), 'b', B);
  const c = attach(reg.get('dmz'), 'c', C);
  a.port.send(eth(BROADCAST, A));
  assert.equal(b.got.length, 1);
  assert.equal(c.got.length, 0);
  c.port.send(eth(BROADCAST, C));
  assert.equal(a.got.length + b.got.length, 1);
  assert.match(a.port.name, /lan/);
  // The same MAC may sit on two different switches.
  attach(reg.get('dmz'), 'a on dmz', A);
});
