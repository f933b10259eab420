import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nullPort, unixSocketPort } from '../../src/vmm/console-ports.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-ports-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once('error', reject);
  });
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a Unix socket port: one client at a time, bytes both ways, connection changes reported', async (t) => {
  const path = join(tempDir(t), 'port.sock');
  const port = await unixSocketPort('org.test.data', path);
  t.after(() => port.close());
  assert.equal(port.name, 'org.test.data');
  assert.ok(lstatSync(path).isSocket());
  assert.equal(port.connected, false);
  port.write(new Uint8Array([1, 2, 3])); // nobody attached: discarded, no error

  const changes: boolean[] = [];
  const input: number[] = [];
  port.onConnectionChange = (c) => changes.push(c);
  port.onInput = (b) => input.push(...b);

  const client = await dial(path);
  await until('connect', () => port.connected);
  assert.deepEqual(changes, [true]);

  const received: Buffer[] = [];
  client.on('data', (b: Buffer) => received.push(b));
  client.write('from host');
  await until('input', () => input.length === 9);
  assert.equal(Buffer.from(input).toString(), 'from host');
  port.write(new TextEncoder().encode('from guest'));
  await until('output', () => Buffer.concat(received).length === 10);
  assert.equal(Buffer.concat(received).toString(), 'from guest');

  // A second client is turned away while the first is attached.
  const second = await dial(path);
  await new Promise((resolve) => second.once('close', resolve));
  assert.equal(port.connected, true);
  assert.deepEqual(changes, [true]);

  client.destroy();
  await until('disconnect', () => !port.connected);
  assert.deepEqual(changes, [true, false]);
  port.write(new Uint8Array([4])); // the client is gone: discarded

  // The next client is accepted.
  const third = await dial(path);
  await until('reconnect', () => port.connected);
  assert.deepEqual(changes, [true, false, true]);
  third.write('again');
  await until('input again', () => input.length === 14);

  const closedByPort = new Promise((resolve) => third.once('close', resolve));
  await port.close();
  await closedByPort;
  assert.equal(existsSync(path), false, 'close() removes the socket file');
  assert.deepEqual(changes, [true, false, true], 'closing the port is not a disconnection the guest sees');
  await port.close();
});

test('a stale socket file is replaced; any other file at the path is refused and kept', async (t) => {
  const dir = tempDir(t);
  const stale = join(dir, 'stale.sock');
  // A listener killed without cleaning up leaves its socket file behind.
  spawnSync(process.execPath, [
    '-e',
    `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.ok(lstatSync(stale).isSocket());
  const port = await unixSocketPort('p', stale);
  const client = await dial(stale);
  await until('connect', () => port.connected);
  client.destroy();
  await port.close();

  const file = join(dir, 'notes.txt');
  writeFileSync(file, 'keep me');
  await assert.rejects(unixSocketPort('p', file), /notes\.txt exists and is not a socket/);
  assert.equal(readFileSync(file, 'utf8'), 'keep me');
  await assert.rejects(unixSocketPort('p', join(dir, 'missing-dir', 'x.sock')), /cannot listen on/);
});

test('a null port is never connected and discards what it is given', async () => {
  const port = nullPort('org.test.none');
  assert.equal(port.name, 'org.test.none');
  assert.equal(port.connected, false);
  port.write(new Uint8Array(8));
  await port.close();
});
