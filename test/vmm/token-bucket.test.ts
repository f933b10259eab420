import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NetBackend } from '../../src/net/net-backend.js';
import type { BlockBackend } from '../../src/storage/block-backend.js';
import { RateLimitedDisk, RateLimitedNic, TokenBucket } from '../../src/vmm/token-bucket.js';

test('a token bucket lets the burst through at once, then paces at its rate', () => {
  let now = 0;
  const bucket = new TokenBucket(1000, 500, () => now);
  assert.equal(bucket.reserve(500), 0);
  assert.equal(bucket.reserve(250), 250, '250 bytes owed at 1000 B/s');
  assert.equal(bucket.reserve(250), 500, 'later callers queue behind earlier ones');
  now = 500;
  assert.equal(bucket.reserve(0), 0);
  now = 10_000;
  assert.equal(bucket.reserve(600), 100, 'refill stops at the burst');
});

class FakeDisk implements BlockBackend {
  readonly name = 'fake';
  readonly size = 1 << 20;
  readonly readOnly = false;
  reads = 0;
  async readv(): Promise<void> {
    this.reads++;
  }
  async writev(): Promise<void> {}
  async flush(): Promise<void> {}
  async discard(): Promise<void> {}
  async writeZeroes(): Promise<void> {}
  async close(): Promise<void> {}
}

test('a rate-limited disk delays requests beyond the burst', async () => {
  const inner = new FakeDisk();
  const disk = new RateLimitedDisk(inner, new TokenBucket(100_000, 65536));
  const started = performance.now();
  await disk.readv([new Uint8Array(65536)], 0);
  assert.ok(performance.now() - started < 50, 'within the burst');
  await disk.readv([new Uint8Array(20_000)], 0);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 190 && elapsed < 600, `20 kB at 100 kB/s after the burst took ${elapsed} ms`);
  assert.equal(inner.reads, 2);
});

class FakeNic implements NetBackend {
  readonly name = 'fake';
  readonly linkUp = true;
  onReceive: (frame: Uint8Array) => void = () => {};
  onLinkChange: (up: boolean) => void = () => {};
  sent: { at: number; first: number }[] = [];
  send(frame: Uint8Array): void {
    this.sent.push({ at: performance.now(), first: frame[0] });
  }
  async close(): Promise<void> {}
}

test('a rate-limited NIC sends frames in order at its rate and passes received frames through', async () => {
  const inner = new FakeNic();
  const nic = new RateLimitedNic(inner, new TokenBucket(100_000, 10_000));
  let received = 0;
  nic.onReceive = () => received++;
  inner.onReceive(new Uint8Array(60));
  assert.equal(received, 1);
  const started = performance.now();
  for (let i = 0; i < 30; i++) nic.send(new Uint8Array(1000).fill(i));
  assert.equal(inner.sent.length, 10, 'the burst goes out at once');
  while (inner.sent.length < 30) await new Promise((r) => setTimeout(r, 10));
  const elapsed = performance.now() - started;
  assert.deepEqual(
    inner.sent.map((s) => s.first),
    Array.from({ length: 30 }, (_, i) => i),
  );
  assert.ok(elapsed >= 180 && elapsed < 600, `20 kB beyond the burst at 100 kB/s took ${elapsed} ms`);
  await nic.close();
});
