/**
 * The REST API of the hypervisor daemon. It only validates and forwards: every decision about VMs
 * is the manager's (VmManagerApi), every request body is checked against the JSON Schemas of
 * src/vmm/vm-schema.ts, and the same schemas generate the OpenAPI document at GET /openapi.json.
 *
 * Access: a Unix socket's file mode (0600) decides who may talk to the daemon through it, so
 * connections accepted on the Unix socket need no token. Anything else (TCP, and fastify.inject
 * in tests) needs `Authorization: Bearer <token>` once a token is configured, and `listenApi`
 * refuses to listen on TCP without one.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { VmInfo, VmManagerApi, VmSpec } from '../vmm/types.js';
import { NAME_PATTERN, vmEventSchema, vmInfoSchema, vmSpecSchema } from '../vmm/vm-schema.js';
import { errorReply, formatSchemaErrors } from './errors.js';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from './metrics.js';

export interface ApiServerOptions {
  /** Bearer token required of every request that does not come through the Unix socket. */
  token?: string;
  /** Fastify's logger option: false (default), true, or pino options. */
  logger?: boolean | object;
}

/** What `listenApi` needs to know about a server `createApiServer` made. */
interface ApiState {
  tokenConfigured: boolean;
  /** Connections accepted on the Unix socket after its mode was set. */
  trusted: WeakSet<object>;
  /** The TCP listener when the app itself listens on the Unix socket. */
  extraServers: Server[];
}

const states = new WeakMap<FastifyInstance, ApiState>();

/**
 * A console client (`vm console`, `vm logs -f`) that reads slower than the guest writes must not grow
 * the daemon's memory: past this much output queued for it, it is disconnected (close code 1013).
 */
export const CONSOLE_MAX_BUFFERED = 1024 * 1024;
/** Names are at most 63 characters; anything much longer is refused before routing (414). */
const MAX_PARAM_LENGTH = 256;
/** Error messages may quote the URL; a client's 16 KiB URL is not echoed back whole. */
const MAX_QUOTED_URL = 200;

const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' } },
} as const;

const ERROR_MEANINGS: Record<number, string> = {
  400: 'Invalid request; the message names the field',
  401: 'Missing or wrong bearer token',
  403: 'A host path outside the allowed roots (or inside the data dir); the message names the field',
  404: 'No such VM',
  409: 'Duplicate name, or the VM is in the wrong state',
  414: 'A URL parameter is longer than 256 characters',
  422: 'A file that does not exist or cannot be used, or an unsupported setting',
  429: 'Too many console clients attached to the VM',
  504: 'The runner did not confirm in time (the VM is marked crashed)',
  507: 'Over the host memory budget',
};

const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: ERROR_MEANINGS[s], $ref: 'Error#' }])) as Record<
    number,
    unknown
  >;

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN } },
} as const;

const vmInfo = { description: 'The VM', $ref: 'VmInfo#' } as const;

type NameRequest = FastifyRequest<{ Params: { name: string } }>;

function quoteUrl(url: string): string {
  const path = url.split('?')[0];
  return path.length > MAX_QUOTED_URL ? `${path.slice(0, MAX_QUOTED_URL)}...` : path;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export async function createApiServer(
  manager: VmManagerApi,
  options: ApiServerOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    ajv: {
      customOptions: {
        // Fastify's defaults silently drop unknown properties and turn "64" into 64; a VM
        // definition with a typo must be refused, not half-applied.
        removeAdditional: false,
        coerceTypes: false,
        allErrors: false,
      },
    },
    schemaErrorFormatter: formatSchemaErrors,
    // Node's default of 5 s closes idle CLI connections under a slow `vm shutdown`; keep it modest.
    keepAliveTimeout: 10_000,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors the router raises before any route runs (a malformed %-escape, an over-long parameter)
    // would otherwise answer in Fastify's own shape: every error body is `{ "error": "..." }`.
    frameworkErrors: (error, request, rawReply) => {
      const reply = rawReply as unknown as FastifyReply;
      const code = (error as { code?: string }).code;
      const url = quoteUrl(request.url);
      if (code === 'FST_ERR_MAX_PARAM_LENGTH')
        return reply
          .code(414)
          .send({ error: `${url}: a URL parameter is longer than ${MAX_PARAM_LENGTH} characters` });
      if (code === 'FST_ERR_BAD_URL')
        return reply.code(400).send({ error: `${url}: not a valid URL (bad %-escape)` });
      const { status, message } = errorReply(error);
      return reply.code(status).send({ error: message });
    },
  });

  const state: ApiState = {
    tokenConfigured: options.token !== undefined,
    trusted: new WeakSet(),
    extraServers: [],
  };
  /** Requests that came with credentials (or need none); /healthz tells the others only "ok". */
  const authenticated = new WeakSet<FastifyRequest>();
  states.set(app, state);

  app.addSchema(vmSpecSchema);
  app.addSchema(vmInfoSchema);
  app.addSchema(vmEventSchema);
  app.addSchema(errorSchema);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Typervisor',
        description: 'Manage RISC-V virtual machines run by the typervisor daemon.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: options.token !== undefined ? [{ bearer: [] }] : [],
    },
    refResolver: {
      // Name the components after the schemas' $id (VmSpec, VmInfo...) rather than def-0, def-1.
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  await app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });

  if (options.token === undefined) {
    app.addHook('onRequest', async (request) => {
      authenticated.add(request);
    });
  } else {
    const expected = digest(options.token);
    app.addHook('onRequest', async (request, reply) => {
      if (state.trusted.has(request.raw.socket)) {
        authenticated.add(request);
        return;
      }
      const header = request.headers.authorization ?? '';
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      // Comparing digests keeps the comparison constant-time whatever the lengths.
      if (match && timingSafeEqual(digest(match[1]), expected)) {
        authenticated.add(request);
        return;
      }
      // Liveness probes carry no credentials: they get "ok" and nothing else (see the route).
      if (request.routeOptions.url === '/healthz' && request.method === 'GET') return;
      reply.header('www-authenticate', 'Bearer');
      return reply.code(401).send({
        error: match ? 'wrong bearer token' : 'missing bearer token (Authorization: Bearer <token>)',
      });
    });
  }

  app.setErrorHandler((error, request, reply) => {
    const { status, message, unexpected } = errorReply(error);
    if (unexpected) request.log.error({ err: error }, 'request failed');
    return reply.code(status).send({ error: message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route ${request.method} ${quoteUrl(request.url)}` }),
  );

  app.get('/openapi.json', { schema: { summary: 'This OpenAPI document', tags: ['meta'] } }, async () =>
    app.swagger(),
  );

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness; with credentials also the VM count and the memory budget',
        description:
          'Without a token (on TCP) the answer is only {"status":"ok"}: a liveness probe learns nothing else.',
        tags: ['meta'],
        security: [],
        response: {
          200: {
            type: 'object',
            required: ['status'],
            properties: {
              status: { type: 'string', enum: ['ok'] },
              vms: { type: 'integer' },
              budget: {
                type: 'object',
                properties: {
                  totalBytes: { type: 'number' },
                  usedBytes: { type: 'number' },
                  perVmOverheadBytes: { type: 'number' },
                },
              },
            },
          },
        },
      },
    },
    async (request) =>
      authenticated.has(request)
        ? { status: 'ok', vms: manager.list().length, budget: manager.budget() }
        : { status: 'ok' },
  );

  app.get(
    '/vms',
    {
      schema: {
        summary: 'List VMs',
        tags: ['vms'],
        response: { 200: { type: 'array', items: vmInfo }, ...errorResponses(401) },
      },
    },
    async (): Promise<VmInfo[]> => manager.list(),
  );

  app.post(
    '/vms',
    {
      schema: {
        summary: 'Define a VM (it starts stopped)',
        tags: ['vms'],
        body: { $ref: 'VmSpec#' },
        response: { 201: vmInfo, ...errorResponses(400, 401, 403, 409, 422, 507) },
      },
    },
    async (request: FastifyRequest<{ Body: VmSpec }>, reply: FastifyReply) => {
      const info = await manager.create(request.body);
      return reply.code(201).send(info);
    },
  );

  app.get(
    '/vms/:name',
    {
      schema: {
        summary: "A VM's definition, state and metrics",
        tags: ['vms'],
        params: nameParams,
        response: { 200: vmInfo, ...errorResponses(400, 401, 404, 414) },
      },
    },
    async (request: NameRequest) => manager.get(request.params.name),
  );

  app.delete(
    '/vms/:name',
    {
      schema: {
        summary: 'Delete a stopped VM (its disk images are kept)',
        tags: ['vms'],
        params: nameParams,
        response: {
          204: { type: 'null', description: 'Deleted' },
          ...errorResponses(400, 401, 404, 409, 414),
        },
      },
    },
    async (request: NameRequest, reply: FastifyReply) => {
      await manager.delete(request.params.name);
      return reply.code(204).send();
    },
  );

  const actions: { action: string; summary: string; run: (name: string) => Promise<VmInfo> }[] = [
    { action: 'start', summary: 'Start a stopped or crashed VM', run: (n) => manager.start(n) },
    { action: 'pause', summary: 'Pause a running VM', run: (n) => manager.pause(n) },
    { action: 'resume', summary: 'Resume a paused VM', run: (n) => manager.resume(n) },
    { action: 'reset', summary: 'Hard-reset a running VM (the reset button)', run: (n) => manager.reset(n) },
    { action: 'stop', summary: 'Stop a VM at once (pull the plug)', run: (n) => manager.stop(n) },
  ];
  for (const { action, summary, run } of actions) {
    app.post(
      `/vms/:name/${action}`,
      {
        schema: {
          summary,
          tags: ['lifecycle'],
          params: nameParams,
          response: { 200: vmInfo, ...errorResponses(400, 401, 403, 404, 409, 414, 422, 504, 507) },
        },
      },
      async (request: NameRequest) => run(request.params.name),
    );
  }

  app.post(
    '/vms/:name/shutdown',
    {
      schema: {
        summary: 'Ask the guest to power off; stop it after timeoutSeconds',
        tags: ['lifecycle'],
        params: nameParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { timeoutSeconds: { type: 'number', minimum: 0, maximum: 86400 } },
        },
        response: { 200: vmInfo, ...errorResponses(400, 401, 404, 409, 414) },
      },
      // The body is optional: `POST /vms/x/shutdown` with none means the manager's default timeout.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (
      request: FastifyRequest<{ Params: { name: string }; Body: { timeoutSeconds?: number } | undefined }>,
    ) => manager.shutdown(request.params.name, request.body?.timeoutSeconds),
  );

  app.get(
    '/vms/:name/logs',
    {
      schema: {
        summary: 'The last console output (up to 256 KiB)',
        tags: ['console'],
        params: nameParams,
        produces: ['text/plain'],
        response: {
          200: { type: 'string', description: 'Console bytes as the guest wrote them' },
          ...errorResponses(400, 401, 404, 414),
        },
      },
    },
    async (request: NameRequest, reply: FastifyReply) => {
      const bytes = manager.logs(request.params.name);
      return reply
        .type('text/plain; charset=utf-8')
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  );

  app.route({
    method: 'GET',
    url: '/vms/:name/console',
    schema: {
      summary: 'Live console over a WebSocket: binary frames carry console bytes both ways',
      description:
        'Upgrade with a WebSocket handshake. Frames from the server are console output; frames to ' +
        'the server are typed into the console. A plain GET answers 426.',
      tags: ['console'],
      params: nameParams,
      response: { 426: { $ref: 'Error#' }, ...errorResponses(400, 401, 404, 414, 429) },
    },
    // Answer 404 before the handshake so that clients see an HTTP error, not a closed socket.
    preHandler: async (request: NameRequest) => {
      manager.get(request.params.name);
    },
    handler: async (_request, reply) =>
      reply.code(426).header('upgrade', 'websocket').send({ error: 'this route needs a WebSocket upgrade' }),
    wsHandler: (socket: WebSocket, request) => {
      const { name } = request.params as { name: string };
      attachConsole(manager, name, socket, request);
    },
  });

  app.get(
    '/events',
    {
      schema: {
        summary: 'The event log (VM created, started, crashed...)',
        tags: ['events'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: {
              type: 'string',
              pattern: '^[0-9]{1,15}$',
              description: 'Only events whose seq is greater than this',
            },
          },
        },
        response: { 200: { type: 'array', items: { $ref: 'VmEvent#' } }, ...errorResponses(400, 401) },
      },
    },
    async (request: FastifyRequest<{ Querystring: { since?: string } }>) => {
      const { since } = request.query;
      return manager.events(since === undefined ? undefined : Number(since));
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics, labelled {vm="name"}',
        tags: ['meta'],
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errorResponses(401) },
      },
    },
    async (_request, reply: FastifyReply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(renderMetrics(manager)),
  );

  app.addHook('onClose', async () => {
    await Promise.all(
      state.extraServers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  });

  await app.ready();
  return app;
}

function attachConsole(
  manager: VmManagerApi,
  name: string,
  socket: WebSocket,
  request: FastifyRequest,
): void {
  let session: { input(bytes: Uint8Array): void; detach(): void };
  try {
    session = manager.attachConsole(name, (bytes) => {
      if (socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > CONSOLE_MAX_BUFFERED) {
        socket.close(1013, 'console client too slow');
        return;
      }
      socket.send(bytes, { binary: true });
    });
  } catch (e) {
    const { status, message } = errorReply(e);
    // 4000 + HTTP status: the application range of close codes, so clients can tell why.
    socket.close(4000 + status, message.slice(0, 120));
    return;
  }
  request.log.info({ vm: name }, 'console attached');
  socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    try {
      session.input(bytes);
    } catch (e) {
      const { status, message } = errorReply(e);
      socket.close(4000 + status, message.slice(0, 120));
    }
  });
  socket.on('close', () => {
    session.detach();
    request.log.info({ vm: name }, 'console detached');
  });
}

export interface ListenTargets {
  /** Unix socket path: trusted by its file mode, set to 0600. */
  socketPath?: string;
  /** TCP address: every request needs the bearer token. */
  tcp?: { host: string; port: number };
}

/**
 * Listens on the Unix socket and/or TCP. Returns the addresses. A stale socket file (no daemon
 * answers on it) is replaced; a live one is an error, as is anything at the path that is not a
 * socket (never delete a user's file).
 */
export async function listenApi(app: FastifyInstance, targets: ListenTargets): Promise<string[]> {
  const state = states.get(app);
  if (!state) throw new Error('listenApi: not a server made by createApiServer');
  if (!targets.socketPath && !targets.tcp) throw new Error('listenApi: nothing to listen on');
  if (targets.tcp && !state.tokenConfigured) {
    throw new Error(
      'refusing to listen on TCP without a token: anyone who can connect could control the VMs',
    );
  }
  const addresses: string[] = [];
  if (targets.socketPath) {
    const path = targets.socketPath;
    await removeStaleSocket(path);
    // Connections that arrive before the mode is 0600 could come from anyone: drop them.
    let secured = false;
    app.server.on('connection', (socket: Socket) => {
      if (!secured) socket.destroy();
      else state.trusted.add(socket);
    });
    await app.listen({ path });
    await chmod(path, 0o600);
    secured = true;
    addresses.push(`unix:${path}`);
  }
  if (targets.tcp) {
    const { host, port } = targets.tcp;
    if (!targets.socketPath) {
      addresses.push(await app.listen({ host, port }));
    } else {
      // Fastify listens on one server; a second Node server feeds the same router, and its
      // WebSocket upgrades go to the handler @fastify/websocket put on the first.
      const server = createServer((req, res) => app.routing(req, res));
      server.on('upgrade', (req, socket, head) => app.server.emit('upgrade', req, socket, head));
      state.extraServers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address();
      if (address && typeof address === 'object') {
        const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        addresses.push(`http://${shown}:${address.port}`);
      }
    }
  }
  return addresses;
}

async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) {
    throw new Error(`${path} exists and is not a socket; not replacing it`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another daemon is listening on ${path}`);
  unlinkSync(path);
}
