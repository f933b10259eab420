/**
 * Throws random descriptor tables, ring indices, register and configuration writes and garbage requests
 * at every virtio device, as a hostile guest would. The device may complete requests with errors or ask
 * for a reset; what it must never do is throw into the host, reject a promise nobody handles, or stop
 * working after the driver resets it. Seeded, so a failure replays with the seed it prints.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Virtio9p } from '../../../../src/machine/devices/virtio/9p.js';
import { VirtioBlk } from '../../../../src/machine/devices/virtio/blk.js';
import { VirtioConsole } from '../../../../src/machine/devices/virtio/console.js';
import type { VirtioDevice } from '../../../../src/machine/devices/virtio/device.js';
import { VirtioNet } from '../../../../src/machine/devices/virtio/net.js';
import { VirtioRng } from '../../../../src/machine/devices/virtio/rng.js';
import { VirtualSwitch } from '../../../../src/net/virtual-switch.js';
import { openRawDisk } from '../../../../src/storage/raw-file.js';
import { SharedFolder } from '../../../../src/storage/shared-folder.js';
import { nullPort } from '../../../../src/vmm/console-ports.js';
import { pick, xorshift32 } from '../../fuzz-random.js';
import { RAM_BASE, TestDriver } from './test-driver.js';

const SEED = Number(process.env.TYPERVISOR_FUZZ_SEED ?? 0x5eed);
const ROUNDS = Number(process.env.TYPERVISOR_FUZZ_ROUNDS ?? 150);
const RAM = 1 << 20;

function randomAddress(r: () => number): number {
  return pick(r, [
    () => RAM_BASE + (r() % RAM),
    () => RAM_BASE + RAM - (r() % 64),
    () => RAM_BASE - 1 - (r() % 4096),
    () => r(),
    () => 2 ** 32 + (r() % RAM),
    () => RAM_BASE + 0x1000 + 16 * (r() % 64),
  ])();
}

function randomLength(r: () => number): number {
  return pick(r, [0, 1, 12, 16, 512, 4096, 65536, 0xffffffff, r(), r() % 8192]);
}

function randomBytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

/** One round of hostility against a freshly initialised device. */
function attack(d: TestDriver, r: () => number): void {
  const queues = d.transport.device.queueMaxSizes.length;
  for (let step = 0; step < 40; step++) {
    const q = r() % queues;
    const areas = d.queueAreas(q);
    switch (r() % 10) {
      case 0:
        d.writeDescriptor(
          areas.desc,
          r() % areas.size,
          randomAddress(r),
          randomLength(r),
          r() & 7,
          r() & 0xffff,
        );
        break;
      case 1:
        d.publish(q, r() % 4 === 0 ? r() & 0xffff : r() % areas.size);
        break;
      case 2:
        d.memory.setU16(areas.avail - RAM_BASE + 2, r() & 0xffff);
        break;
      case 3: {
        // A well-formed chain carrying garbage: the device's own request parsing is attacked.
        const readable = Array.from({ length: r() % 3 }, () =>
          randomBytes(r, pick(r, [0, 1, 7, 16, 64, 300])),
        );
        const writable = Array.from({ length: r() % 3 }, () => pick(r, [0, 1, 16, 128, 4096]));
        if (readable.length + writable.length > 0)
          d.submit(q, readable, writable, { indirect: r() % 3 === 0 });
        break;
      }
      case 4:
        d.kick(r() % 5 === 0 ? r() : q);
        break;
      case 5:
        d.write((r() % 0x40) * 4, r() % 2 ? r() : r() % 8);
        break;
      case 6:
        d.transport.write(0x100 + (r() % 64), pick(r, [1, 2, 4]) as 1 | 2 | 4, r() | 0, 0);
        break;
      case 7:
        d.memory.setU16(areas.avail - RAM_BASE, r() & 3);
        break;
      case 8:
        d.ack();
        break;
      default:
        d.kick(q);
    }
  }
}

interface Subject {
  name: string;
  make(): Promise<VirtioDevice>;
}

const dir = mkdtempSync(join(tmpdir(), 'typervisor-fuzz-'));
const disk = join(dir, 'disk.img');
writeFileSync(disk, new Uint8Array(1 << 20));
const share = join(dir, 'share');

const subjects: Subject[] = [
  { name: 'virtio-rng', make: async () => new VirtioRng() },
  {
    name: 'virtio-blk',
    make: async () => new VirtioBlk(await openRawDisk(disk, { readOnly: false }), { serial: 'FUZZ' }),
  },
  {
    name: 'virtio-blk (read-only)',
    make: async () => new VirtioBlk(await openRawDisk(disk, { readOnly: true }), {}),
  },
  {
    name: 'virtio-net',
    make: async () => {
      // A fresh switch per device: a port's MAC may be on a switch only once.
      const lan = new VirtualSwitch('fuzz');
      const mac = Uint8Array.of(0x52, 0x54, 0, 0, 0, 1);
      const peerMac = Uint8Array.of(0x52, 0x54, 0, 0, 0, 2);
      // A second port on the switch so that transmitted frames go somewhere and come back: it answers
      // every frame it gets with a copy from its own address to the fuzzed NIC's.
      const peer = lan.connect('peer', peerMac);
      peer.onReceive = (frame) => {
        const reply = frame.slice();
        reply.set(mac, 0);
        reply.set(peerMac, 6);
        peer.send(reply);
      };
      return new VirtioNet(lan.connect('fuzzed', mac), { mac });
    },
  },
  { name: 'virtio-console', make: async () => new VirtioConsole([nullPort('console'), nullPort('extra')]) },
  {
    name: 'virtio-9p',
    make: async () => {
      const { mkdirSync } = await import('node:fs');
      mkdirSync(share, { recursive: true });
      writeFileSync(join(share, 'file'), 'hello');
      return new Virtio9p(await SharedFolder.open(share, { readOnly: false }), { tag: 'fuzz' });
    },
  },
];

for (const subject of subjects) {
  test(`fuzz: ${subject.name} survives hostile drivers and recovers after reset`, {
    timeout: 120_000,
  }, async () => {
    let resets = 0;
    let completions = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const seed = (SEED + round * 7919) >>> 0;
      const r = xorshift32(seed);
      const device = await subject.make();
      const d = new TestDriver(device, RAM);
      // The attack publishes heads and ring indices behind the driver's back.
      d.strict = false;
      try {
        d.init({ size: pick(r, [1, 2, 8, 64]) });
        attack(d, r);
        // Let asynchronous host I/O started by the garbage finish (or fail) before judging.
        await new Promise((resolve) => setTimeout(resolve, 5));
        attack(d, r);
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (d.status & 0x40) resets++;
        for (let q = 0; q < device.queueMaxSizes.length; q++) completions += d.takeUsed(q).length;
        const status = d.init();
        assert.equal(
          status & 0x4c,
          0x0c,
          `seed ${seed}: after a reset the device is usable again (status ${status})`,
        );
      } catch (e) {
        throw new Error(`${subject.name}, seed ${seed}: ${(e as Error).stack}`);
      } finally {
        d.write(0x070, 0);
        await device.close();
      }
    }
    // The attack must reach both outcomes, or it tests nothing: rejected queues and served requests.
    assert.ok(resets > 0, `${subject.name}: no round ended in DEVICE_NEEDS_RESET`);
    assert.ok(completions > 0, `${subject.name}: no request was ever completed`);
  });
}
