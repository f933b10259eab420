/**
 * The REST API against an in-memory manager (fake-manager.ts): every route, the error statuses and
 * messages clients rely on, bearer tokens, the OpenAPI document and the Prometheus text, plus the
 * listening rules (Unix socket 0600 and trusted, stale socket replaced, TCP only with a token).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { WebSocket } from 'ws';
import { CONSOLE_MAX_BUFFERED, createApiServer, listenApi } from '../../src/api/server.js';
import type { VmInfo, VmSpec } from '../../src/vmm/types.js';
import { BOOT_BANNER, FakeManager } from './fake-manager.js';

const spec = (name: string, extra: Partial<VmSpec> = {}): VmSpec => ({
  name,
  vcpus: 1,
  memoryMiB: 64,
  boot: {},
  ...extra,
});

async function fresh(options: { token?: string; budget?: number } = {}) {
  const manager = new FakeManager(options.budget);
  const app = await createApiServer(manager, options.token === undefined ? {} : { token: options.token });
  return { manager, app };
}

describe('VM routes', () => {
  let app: FastifyInstance;
  let manager: FakeManager;
  before(async () => {
    ({ app, manager } = await fresh());
  });
  after(() => app.close());

  test('create, get, list', async () => {
    const created = await app.inject({ method: 'POST', url: '/vms', payload: spec('web', { rng: true }) });
    assert.equal(created.statusCode, 201);
    assert.deepEqual(created.json<VmInfo>(), { spec: spec('web', { rng: true }), state: 'stopped' });

    const got = await app.inject('/vms/web');
    assert.equal(got.statusCode, 200);
    assert.equal(got.json<VmInfo>().state, 'stopped');

    const list = await app.inject('/vms');
    assert.equal(list.statusCode, 200);
    assert.deepEqual(
      list.json<VmInfo[]>().map((v) => v.spec.name),
      ['web'],
    );
  });

  test('a full definition round-trips unchanged', async () => {
    const full = spec('full', {
      boot: { cmdline: 'console=ttyS0 quiet', firmware: 'builtin' },
      nics: [{ switch: 'lan', mac: '52:54:00:12:34:56' }],
      shares: [{ path: '/tmp', tag: 'host0', readOnly: true }],
      limits: { cpuPercent: 50, diskBytesPerSecond: 1_000_000, netBytesPerSecond: 2_000_000 },
      autostart: false,
      runner: 'thread',
    });
    const res = await app.inject({ method: 'POST', url: '/vms', payload: full });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json<VmInfo>().spec, full);
    assert.equal((await app.inject({ method: 'DELETE', url: '/vms/full' })).statusCode, 204);
  });

  test('lifecycle: start, pause, resume, reset, shutdown, stop', async () => {
    const post = (url: string, payload?: object) =>
      app.inject({ method: 'POST', url, ...(payload ? { payload } : {}) });
    let res = await post('/vms/web/start');
    assert.equal(res.statusCode, 200);
    const running = res.json<VmInfo>();
    assert.equal(running.state, 'running');
    assert.equal(running.metrics?.instructions, 123456789);
    assert.equal(typeof running.startedAt, 'string');

    res = await post('/vms/web/pause');
    assert.equal(res.json<VmInfo>().state, 'paused');
    res = await post('/vms/web/pause');
    assert.equal(res.statusCode, 409);
    assert.match(res.json<{ error: string }>().error, /it is paused/);
    res = await post('/vms/web/resume');
    assert.equal(res.json<VmInfo>().state, 'running');
    res = await post('/vms/web/reset');
    assert.equal(res.json<VmInfo>().state, 'running');
    // shutdown takes an optional body
    res = await post('/vms/web/shutdown');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<VmInfo>().state, 'stopped');
    await post('/vms/web/start');
    res = await post('/vms/web/shutdown', { timeoutSeconds: 5 });
    assert.equal(res.statusCode, 200);
    assert.match(manager.eventLog.at(-1)?.detail ?? '', /timeout 5/);
    res = await post('/vms/web/shutdown', { timeoutSeconds: -1 });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json<{ error: string }>().error, 'body/timeoutSeconds must be >= 0');
    await post('/vms/web/start');
    res = await post('/vms/web/stop');
    assert.equal(res.json<VmInfo>().state, 'stopped');
    res = await post('/vms/web/stop');
    assert.equal(res.statusCode, 409);
  });

  test('logs are the console bytes as text/plain', async () => {
    const res = await app.inject('/vms/web/logs');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/plain/);
    assert.ok(res.body.includes(BOOT_BANNER));
  });

  test('console: binary frames both ways; a plain GET answers 426', async () => {
    await app.inject({ method: 'POST', url: '/vms/web/start' });
    const plain = await app.inject('/vms/web/console');
    assert.equal(plain.statusCode, 426);

    const ws = await app.injectWS('/vms/web/console');
    const received: Buffer[] = [];
    const echoed = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        assert.equal(isBinary, true);
        received.push(data);
        if (Buffer.concat(received).toString().includes('HELLO')) resolve();
      });
    });
    ws.send(Buffer.from('hello'));
    await echoed;
    ws.terminate();
    await app.inject({ method: 'POST', url: '/vms/web/stop' });
  });

  test('console of an unknown VM is refused before the handshake', async () => {
    await assert.rejects(app.injectWS('/vms/nosuch/console'), /404/);
  });

  test('events, optionally since a sequence number', async () => {
    const all = (await app.inject('/events')).json<{ seq: number; type: string; vm: string }[]>();
    assert.ok(all.length >= 5);
    assert.deepEqual(all[0], { ...all[0], vm: 'web', type: 'created', seq: 1 });
    const later = (await app.inject(`/events?since=${all.at(-2)?.seq}`)).json<unknown[]>();
    assert.deepEqual(later, [all.at(-1)]);
    const bad = await app.inject('/events?since=yesterday');
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json<{ error: string }>().error, /^querystring\/since /);
  });

  test('healthz reports the budget', async () => {
    const res = await app.inject('/healthz');
    assert.equal(res.statusCode, 200);
    const body = res.json<{ status: string; vms: number; budget: { usedBytes: number } }>();
    assert.equal(body.status, 'ok');
    assert.equal(body.vms, 1);
    assert.equal(body.budget.usedBytes, 64 * 1024 * 1024 + 16 * 1024 * 1024);
  });

  test('delete: 409 while running, 204 when stopped, then 404', async () => {
    await app.inject({ method: 'POST', url: '/vms/web/start' });
    let res = await app.inject({ method: 'DELETE', url: '/vms/web' });
    assert.equal(res.statusCode, 409);
    await app.inject({ method: 'POST', url: '/vms/web/stop' });
    res = await app.inject({ method: 'DELETE', url: '/vms/web' });
    assert.equal(res.statusCode, 204);
    assert.equal(res.body, '');
    res = await app.inject('/vms/web');
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { error: "no VM named 'web'" });
  });
});

describe('errors', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await fresh({ budget: 512 * 1024 * 1024 }));
  });
  after(() => app.close());

  const create = (payload: unknown) =>
    app.inject({ method: 'POST', url: '/vms', payload: payload as object });
  const errorOf = async (payload: unknown) => {
    const res = await create(payload);
    assert.equal(res.statusCode, 400, res.body);
    return res.json<{ error: string }>().error;
  };

  test('schema violations name the field', async () => {
    const { name: _name, ...noName } = spec('x');
    assert.equal(await errorOf(noName), 'body/name is required');
    assert.equal(await errorOf(spec('x', { memoryMiB: 8 })), 'body/memoryMiB must be >= 16');
    assert.equal(await errorOf(spec('x', { memoryMiB: 4096 })), 'body/memoryMiB must be <= 2048');
    assert.equal(
      await errorOf({ ...spec('x'), memory: 64 }),
      'body/memory is not allowed (unknown property)',
    );
    assert.equal(
      await errorOf(spec('x', { boot: { kernel: 'Image', kernal: 'x' } as never })),
      'body/boot/kernal is not allowed (unknown property)',
    );
    assert.match(
      await errorOf(spec('x', { nics: [{ switch: 'lan', mac: '52:54:00:zz:00:01' }] })),
      /^body\/nics\/0\/mac must match pattern/,
    );
    // a multicast address cannot be a NIC's
    assert.match(
      await errorOf(spec('x', { nics: [{ switch: 'lan', mac: '01:00:5e:00:00:01' }] })),
      /^body\/nics\/0\/mac /,
    );
    assert.match(await errorOf(spec('Bad Name')), /^body\/name must match pattern/);
    assert.equal(await errorOf(spec('x', { vcpus: 9 })), 'body/vcpus must be <= 8');
    assert.equal(
      await errorOf(spec('x', { runner: 'vm' as never })),
      'body/runner must be one of "process", "thread"',
    );
    assert.equal(
      await errorOf(spec('x', { limits: { cpuPercent: 0 } })),
      'body/limits/cpuPercent must be >= 1',
    );
    assert.equal(
      await errorOf(spec('x', { limits: { diskBytesPerSecond: 0 } })),
      'body/limits/diskBytesPerSecond must be >= 1',
    );
    assert.match(
      await errorOf(spec('x', { disks: [{ path: '/x', serial: 'a'.repeat(21) }] })),
      /^body\/disks\/0\/serial /,
    );
    // no silent coercion: "64" is not a number
    assert.equal(await errorOf({ ...spec('x'), memoryMiB: '64' }), 'body/memoryMiB must be integer');
  });

  test('a body that is not JSON is a 400 with a message', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/vms',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    });
    assert.equal(res.statusCode, 400);
    assert.equal(typeof res.json<{ error: string }>().error, 'string');
  });

  test('vCPUs the manager cannot boot are refused with its reason', async () => {
    const res = await create(spec('smp', { vcpus: 2 }));
    assert.equal(res.statusCode, 400);
    assert.match(res.json<{ error: string }>().error, /only 1 vCPU/);
  });

  test('unknown VM 404, duplicate 409, missing file 422, over budget 507', async () => {
    for (const action of ['start', 'pause', 'resume', 'reset', 'stop', 'shutdown']) {
      const res = await app.inject({ method: 'POST', url: `/vms/ghost/${action}` });
      assert.equal(res.statusCode, 404, action);
    }
    assert.equal((await app.inject('/vms/ghost')).statusCode, 404);
    assert.equal((await app.inject('/vms/ghost/logs')).statusCode, 404);
    assert.equal((await app.inject({ method: 'DELETE', url: '/vms/ghost' })).statusCode, 404);

    assert.equal((await create(spec('a'))).statusCode, 201);
    const dup = await create(spec('a'));
    assert.equal(dup.statusCode, 409);
    assert.match(dup.json<{ error: string }>().error, /already exists/);

    const missing = await create(spec('b', { boot: { kernel: '/nonexistent/Image' } }));
    assert.equal(missing.statusCode, 422);
    assert.match(missing.json<{ error: string }>().error, /no such file/);

    const big = await create(spec('big', { memoryMiB: 1024 }));
    assert.equal(big.statusCode, 507);
    assert.match(big.json<{ error: string }>().error, /budget/);
  });

  test('every error, the router\'s own included, is { "error": "..." }', async () => {
    const cases: [string, string, number][] = [
      ['GET', `/vms/${'a'.repeat(101)}`, 400],
      ['GET', `/vms/${'a'.repeat(300)}`, 414],
      ['POST', `/vms/${'a'.repeat(300)}/start`, 414],
      ['GET', '/vms/%zz', 400],
      ['DELETE', `/vms/${'b'.repeat(5000)}`, 414],
      ['PUT', `/nope/${'c'.repeat(5000)}`, 404],
      ['POST', '/vms/%E0%A4%A/stop', 400],
    ];
    for (const [method, url, status] of cases) {
      const res = await app.inject({ method: method as 'GET', url });
      assert.equal(res.statusCode, status, `${method} ${url.slice(0, 40)}: ${res.body.slice(0, 200)}`);
      const body = res.json<Record<string, unknown>>();
      assert.deepEqual(Object.keys(body), ['error'], res.body.slice(0, 200));
      assert.equal(typeof body.error, 'string');
      assert.ok((body.error as string).length < 400, 'a long URL is not echoed back whole');
    }
  });

  test('unknown routes are JSON 404s', async () => {
    const res = await app.inject('/nope');
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { error: 'no route GET /nope' });
  });
});

describe('bearer token', () => {
  let app: FastifyInstance;
  const token = 'a-long-enough-secret-token';
  before(async () => {
    ({ app } = await fresh({ token }));
  });
  after(() => app.close());

  test('missing or wrong token: 401 with WWW-Authenticate', async () => {
    for (const headers of [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: token },
      { authorization: `Basic ${token}` },
    ]) {
      const res = await app.inject({ url: '/vms', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.headers['www-authenticate'], 'Bearer');
      assert.match(res.json<{ error: string }>().error, /bearer token/);
    }
    const create = await app.inject({ method: 'POST', url: '/vms', payload: spec('x') });
    assert.equal(create.statusCode, 401);
  });

  test('the right token passes; /healthz without it says "ok" and nothing else', async () => {
    const res = await app.inject({ url: '/vms', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    const anonymous = await app.inject('/healthz');
    assert.equal(anonymous.statusCode, 200);
    assert.deepEqual(anonymous.json(), { status: 'ok' }, 'no budget or VM count without the token');
    const wrong = await app.inject({ url: '/healthz', headers: { authorization: 'Bearer wrong' } });
    assert.deepEqual(wrong.json(), { status: 'ok' });
    const bearer = await app.inject({ url: '/healthz', headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(Object.keys(bearer.json()).sort(), ['budget', 'status', 'vms']);
  });

  test('the console handshake needs the token too', async () => {
    await assert.rejects(app.injectWS('/vms/x/console'), /401/);
  });
});

describe('OpenAPI document', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await fresh());
  });
  after(() => app.close());

  test('is OpenAPI 3 and lists every route', async () => {
    const res = await app.inject('/openapi.json');
    assert.equal(res.statusCode, 200);
    const doc = res.json<{
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    }>();
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const expected = [
      'GET /openapi.json',
      'GET /healthz',
      'GET /vms',
      'POST /vms',
      'GET /vms/{name}',
      'DELETE /vms/{name}',
      ...['start', 'pause', 'resume', 'reset', 'stop', 'shutdown'].map((a) => `POST /vms/{name}/${a}`),
      'GET /vms/{name}/logs',
      'GET /vms/{name}/console',
      'GET /events',
      'GET /metrics',
    ];
    assert.deepEqual([...routes].sort(), [...expected].sort());
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} has responses`);
      }
    }
    // The request body schema is the VmSpec schema itself, as a component.
    const body = (
      doc.paths['/vms'].post as unknown as { requestBody: { content: Record<string, { schema: unknown }> } }
    ).requestBody.content['application/json'].schema;
    assert.deepEqual(body, { $ref: '#/components/schemas/VmSpec' });
    assert.ok(doc.components.schemas.VmSpec.properties?.memoryMiB);
    assert.ok(doc.components.schemas.VmInfo);
    // Every $ref points at a component that exists.
    const text = JSON.stringify(doc);
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      assert.ok(doc.components.schemas[name], `component ${name}`);
    }
  });
});

describe('metrics', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await fresh());
    await app.inject({ method: 'POST', url: '/vms', payload: spec('m1') });
    await app.inject({ method: 'POST', url: '/vms', payload: spec('m2', { memoryMiB: 128 }) });
    await app.inject({ method: 'POST', url: '/vms/m1/start' });
  });
  after(() => app.close());

  test('Prometheus text, per-VM series labelled {vm="name"}', async () => {
    const res = await app.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
    const lines = res.body.trimEnd().split('\n');
    // Every sample belongs to a family announced by HELP and TYPE lines before it.
    const typed = new Set<string>();
    for (const line of lines) {
      const meta = /^# (HELP|TYPE) (\w+) (.+)$/.exec(line);
      if (meta) {
        if (meta[1] === 'TYPE') {
          assert.match(meta[3], /^(gauge|counter)$/);
          typed.add(meta[2]);
        }
        continue;
      }
      const sample = /^(\w+)(\{(\w+="[^"]*")(,\w+="[^"]*")*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/.exec(line);
      assert.ok(sample, `malformed sample line: ${line}`);
      assert.ok(typed.has(sample[1]), `${sample[1]} has no TYPE line before it`);
    }
    const body = res.body;
    assert.match(body, /^typervisor_vm_state\{vm="m1",state="running"\} 1$/m);
    assert.match(body, /^typervisor_vm_state\{vm="m1",state="stopped"\} 0$/m);
    assert.match(body, /^typervisor_vm_state\{vm="m2",state="stopped"\} 1$/m);
    assert.match(body, /^typervisor_vm_instructions_total\{vm="m1"\} 123456789$/m);
    assert.match(body, /^typervisor_vm_mips\{vm="m1"\} 98\.5$/m);
    assert.match(body, /^typervisor_vm_guest_ram_bytes\{vm="m1"\} 67108864$/m);
    assert.match(body, /^typervisor_vm_host_rss_bytes\{vm="m1"\} 50000000$/m);
    assert.match(body, /^typervisor_vm_disk_read_bytes_total\{vm="m1"\} 4096$/m);
    assert.match(body, /^typervisor_vm_net_transmitted_bytes_total\{vm="m1"\} 200$/m);
    assert.match(body, /^typervisor_vm_uptime_seconds\{vm="m1"\} [0-9.]+$/m);
    // a stopped VM has no uptime or counters, but its configuration is there
    assert.doesNotMatch(body, /typervisor_vm_uptime_seconds\{vm="m2"\}/);
    assert.match(body, /^typervisor_vm_memory_bytes\{vm="m2"\} 134217728$/m);
    assert.match(body, /^typervisor_vms 2$/m);
  });

  test('a value that is not a number cannot forge lines', async () => {
    const manager = new FakeManager();
    const app2 = await createApiServer(manager);
    try {
      await manager.create(spec('evil'));
      await manager.start('evil');
      manager.metricsOverride = { instructions: '1\ntypervisor_vms 999', mips: { toString: () => '2\nx 1' } };
      const res = await app2.inject('/metrics');
      assert.equal(res.statusCode, 200);
      assert.doesNotMatch(res.body, /typervisor_vms 999|^x 1/m);
      assert.match(res.body, /^typervisor_vm_instructions_total\{vm="evil"\} NaN$/m);
      for (const line of res.body.trimEnd().split('\n')) {
        if (line.startsWith('# ')) continue;
        assert.match(line, /^\w+(\{[^}]*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/, line);
      }
    } finally {
      await app2.close();
    }
  });
});

/** GET over a Unix socket or TCP, outside fastify.inject, to see the transport rules. */
function get(target: { socketPath: string } | { port: number }, path: string, token?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { ...target, path, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('slow console clients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-slow-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a client that does not read is disconnected once ~1 MiB waits for it', async () => {
    const { app, manager } = await fresh();
    const socketPath = join(dir, 'api.sock');
    await listenApi(app, { socketPath });
    try {
      await manager.create(spec('chatty'));
      await manager.start('chatty');
      const ws = new WebSocket(`ws+unix://${socketPath}:/vms/chatty/console`);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      let received = 0;
      ws.on('message', (data: Buffer) => {
        received += data.length;
      });
      const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
      // The client stops reading: its kernel socket buffer fills, then the daemon's send queue grows.
      ws.pause();
      const chunk = new Uint8Array(64 * 1024).fill(0x41);
      const produced = 16 * 1024 * 1024;
      for (let n = 0; n < produced; n += chunk.length) {
        manager.emitOutput('chatty', chunk);
        // Let the daemon's socket hand the kernel what it takes.
        await new Promise((r) => setImmediate(r));
      }
      ws.resume();
      assert.equal(await closed, 1013, 'closed as too slow');
      // What was queued before the cut: at least the bound, at most the bound plus the kernel's buffers.
      assert.ok(
        received >= CONSOLE_MAX_BUFFERED && received <= CONSOLE_MAX_BUFFERED + 4 * 1024 * 1024,
        `the slow client got ${received} of ${produced} bytes before being cut off`,
      );
    } finally {
      await app.close();
    }
  });
});

describe('listening', () => {
  const dir = mkdtempSync(join(tmpdir(), 'typervisor-api-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('TCP is refused without a token', async () => {
    const { app } = await fresh();
    await assert.rejects(listenApi(app, { tcp: { host: '127.0.0.1', port: 0 } }), /without a token/);
    await app.close();
  });

  test('Unix socket: mode 0600, trusted without the token; TCP needs it', async () => {
    const token = 'another-long-enough-token';
    const { app } = await fresh({ token });
    const socketPath = join(dir, 'api.sock');
    const addresses = await listenApi(app, { socketPath, tcp: { host: '127.0.0.1', port: 0 } });
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    assert.equal(addresses[0], `unix:${socketPath}`);
    const port = Number(new URL(addresses[1]).port);

    assert.equal((await get({ socketPath }, '/vms')).status, 200);
    assert.equal((await get({ port }, '/vms')).status, 401);
    assert.equal((await get({ port }, '/vms', 'wrong')).status, 401);
    assert.equal((await get({ port }, '/vms', token)).status, 200);
    await app.close();
    assert.equal(existsSync(socketPath), false, 'closing removes the socket file');
  });

  test('a stale socket file is replaced; a live one or a plain file is not', async () => {
    const socketPath = join(dir, 'stale.sock');
    // A process that dies without closing its server leaves the socket file behind.
    const child = spawn(process.execPath, [
      '-e',
      "require('net').createServer().listen(process.argv[1], () => console.log('up'))",
      socketPath,
    ]);
    await new Promise((resolve) => child.stdout.once('data', resolve));

    const { app: second } = await fresh();
    await assert.rejects(listenApi(second, { socketPath }), /another daemon is listening/);
    await second.close();

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(existsSync(socketPath));

    const { app } = await fresh();
    await listenApi(app, { socketPath });
    assert.equal((await get({ socketPath }, '/healthz')).status, 200);
    await app.close();

    const plain = join(dir, 'plain-file');
    writeFileSync(plain, 'keep me');
    const { app: third } = await fresh();
    await assert.rejects(listenApi(third, { socketPath: plain }), /not a socket/);
    await third.close();
    assert.ok(existsSync(plain));
  });
});
