import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import {
  connectStream,
  FrameReader,
  ListeningStream,
  listenStream,
  MAX_STREAM_FRAME,
} from '../../src/net/stream-socket.js';

function framed(...frames: Uint8Array[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(f.length);
      return [h, Buffer.from(f)];
    }),
  );
}

function frame(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 13 + seed) & 0xff);
}

/** Resolves when `check` holds, polling; fails after a second. */
async function until(check: () => boolean, what: string): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > 2000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('FrameReader: frames split anywhere and coalesced come out whole and in order', () => {
  const frames = [frame(60, 1), frame(1514, 2), frame(1, 3), frame(300, 4)];
  const stream = framed(...frames);
  for (const cut of [1, 2, 3, 5, 7, 64, 1000, stream.length]) {
    const got: Uint8Array[] = [];
    const reader = new FrameReader((f) => got.push(Uint8Array.from(f)));
    for (let at = 0; at < stream.length; at += cut) assert.ok(reader.push(stream.subarray(at, at + cut)));
    assert.deepEqual(got, frames, `chunks of ${cut}`);
  }
});

test('FrameReader: zero-length frames are skipped; an absurd length stops the stream', () => {
  const got: Uint8Array[] = [];
  const reader = new FrameReader((f) => got.push(f));
  assert.ok(reader.push(Buffer.concat([Buffer.alloc(4), framed(frame(10, 0))])));
  assert.equal(got.length, 1);
  const bad = Buffer.alloc(4);
  bad.writeUInt32BE(MAX_STREAM_FRAME + 1);
  assert.equal(reader.push(bad), false);
  bad.writeUInt32BE(0xffffffff);
  reader.reset();
  assert.equal(reader.push(bad), false);
});

async function rawServer(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { server, port: address.port, sockets };
}

test('connect: frames go out length-prefixed, come in whole, and the link follows the connection', async () => {
  const { server, port, sockets } = await rawServer();
  try {
    const nic = await connectStream('127.0.0.1', port);
    assert.equal(nic.linkUp, true);
    assert.equal(nic.name, `socket 127.0.0.1:${port}`);
    const links: boolean[] = [];
    const got: Uint8Array[] = [];
    nic.onLinkChange = (up) => links.push(up);
    nic.onReceive = (f) => got.push(Uint8Array.from(f));
    await until(() => sockets.length === 1, 'the connection');
    const peer = sockets[0];
    const received: Buffer[] = [];
    peer.on('data', (b: Buffer) => received.push(b));
    const out = [frame(60, 5), frame(1514, 6)];
    for (const f of out) nic.send(f);
    await until(() => Buffer.concat(received).length === 8 + 60 + 1514, 'the frames');
    assert.deepEqual(Buffer.concat(received), framed(...out));
    const back = framed(frame(42, 7), frame(1500, 8), frame(64, 9));
    // Byte by byte and then in one go: chunking must not matter.
    for (let i = 0; i < 50; i++) peer.write(back.subarray(i, i + 1));
    peer.write(back.subarray(50));
    await until(() => got.length === 3, 'three frames');
    assert.deepEqual(got, [frame(42, 7), frame(1500, 8), frame(64, 9)]);
    peer.destroy();
    await until(() => !nic.linkUp, 'link down');
    assert.deepEqual(links, [false]);
    nic.send(frame(60, 1));
    await nic.close();
  } finally {
    server.close();
  }
});

test('connect: a refused connection rejects with a clear error', async () => {
  const { server, port } = await rawServer();
  await new Promise<void>((r) => server.close(() => r()));
  await assert.rejects(connectStream('127.0.0.1', port), new RegExp(`cannot connect to 127.0.0.1:${port}`));
});

test('listen: link down until a peer connects, one peer at a time, up again for the next', async () => {
  const nic = await listenStream('127.0.0.1', 0);
  assert.ok(nic instanceof ListeningStream);
  assert.ok(nic.port > 0);
  assert.equal(nic.linkUp, false);
  const links: boolean[] = [];
  const got: Uint8Array[] = [];
  nic.onLinkChange = (up) => links.push(up);
  nic.onReceive = (f) => got.push(Uint8Array.from(f));
  nic.send(frame(60, 0)); // nobody to send to: dropped, not queued
  try {
    const first = createConnection(nic.port, '127.0.0.1');
    await until(() => nic.linkUp, 'the first peer');
    const second = createConnection(nic.port, '127.0.0.1');
    const secondClosed = new Promise<void>((r) => second.on('close', () => r()));
    second.on('error', () => {});
    await secondClosed;
    assert.equal(nic.linkUp, true, 'the second caller was hung up on; the first stays');
    const firstData: Buffer[] = [];
    first.on('data', (b: Buffer) => firstData.push(b));
    nic.send(frame(100, 1));
    await until(() => Buffer.concat(firstData).length === 104, 'a frame at the peer');
    assert.deepEqual(Buffer.concat(firstData), framed(frame(100, 1)));
    first.write(framed(frame(70, 2)));
    await until(() => got.length === 1, 'a frame from the peer');
    first.destroy();
    await until(() => !nic.linkUp, 'link down');
    const third = createConnection(nic.port, '127.0.0.1');
    await until(() => nic.linkUp, 'the next peer');
    assert.deepEqual(links, [true, false, true]);
    // A peer speaking something else is dropped rather than believed.
    third.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await until(() => !nic.linkUp, 'the garbage-speaking peer to be dropped');
    assert.match(nic.lastError ?? '', /frame length/);
    assert.deepEqual(links, [true, false, true, false]);
  } finally {
    await nic.close();
  }
  assert.equal(nic.linkUp, false);
  await assert.rejects(
    new Promise((resolve, reject) => {
      const s = createConnection(nic.port, '127.0.0.1');
      s.on('connect', resolve);
      s.on('error', reject);
    }),
    /ECONNREFUSED/,
    'closed: nobody listens any more',
  );
});

test('listen: a port in use rejects with a clear error', async () => {
  const nic = await listenStream('127.0.0.1', 0);
  try {
    await assert.rejects(
      listenStream('127.0.0.1', nic.port),
      /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
    );
  } finally {
    await nic.close();
  }
});

test('two Typervisor ends talk to each other', async () => {
  const listener = await listenStream('127.0.0.1', 0);
  const connector = await connectStream('127.0.0.1', listener.port);
  try {
    await until(() => listener.linkUp, 'connection');
    const got: Uint8Array[] = [];
    listener.onReceive = (f) => got.push(Uint8Array.from(f));
    for (let i = 0; i < 100; i++) connector.send(frame(64 + i * 10, i));
    await until(() => got.length === 100, '100 frames');
    assert.deepEqual(
      got,
      Array.from({ length: 100 }, (_, i) => frame(64 + i * 10, i)),
    );
    const closed: boolean[] = [];
    listener.onLinkChange = (up) => closed.push(up);
    await connector.close();
    await until(() => !listener.linkUp, 'link down at the listener');
    assert.deepEqual(closed, [false]);
  } finally {
    await listener.close();
  }
});
