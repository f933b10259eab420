/**
 * The CLI's client of the daemon's REST API: HTTP over the daemon's Unix socket (the default: the
 * socket's file mode is the credential) or over TCP with a bearer token. Failures come out as two
 * kinds the CLI turns into exit codes: ApiError (the daemon answered no) and DaemonUnreachable
 * (nobody answered).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { WebSocket } from 'ws';
import { defaultSocketPath } from './serve.js';

export interface ClientOptions {
  /** Unix socket path; default $TYPERVISOR_SOCKET, else the default data dir's socket. */
  socket?: string;
  /** http(s)://host:port of a daemon listening on TCP; default $TYPERVISOR_URL. */
  url?: string;
  /** Bearer token for TCP; default $TYPERVISOR_TOKEN. */
  token?: string;
}

/** The daemon refused a request; `status` is the HTTP status, `message` the daemon's own words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Nothing answered at the address: no daemon, wrong address, or no permission on the socket. */
export class DaemonUnreachable extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Target = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; url: URL; token?: string };

export function resolveTarget(options: ClientOptions, env: NodeJS.ProcessEnv = process.env): Target {
  // An explicit flag wins over the environment, and a socket flag over a URL from the environment.
  const url = options.url ?? (options.socket ? undefined : env.TYPERVISOR_URL);
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--url: '${url}' is not a URL (example: http://127.0.0.1:8080)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new UsageError(`--url: '${url}' must be http:// or https://`);
    }
    const token = options.token ?? env.TYPERVISOR_TOKEN;
    return { kind: 'tcp', url: parsed, ...(token ? { token } : {}) };
  }
  return { kind: 'unix', socketPath: options.socket ?? env.TYPERVISOR_SOCKET ?? defaultSocketPath() };
}

/** A mistake in how the CLI was called (exit status 2). */
export class UsageError extends Error {}

export class VmClient {
  readonly target: Target;

  constructor(options: ClientOptions = {}) {
    this.target = resolveTarget(options);
  }

  /** Where the client talks to, for messages. */
  describe(): string {
    return this.target.kind === 'unix' ? `unix socket ${this.target.socketPath}` : this.target.url.origin;
  }

  private unreachable(error: NodeJS.ErrnoException): DaemonUnreachable {
    const where = this.describe();
    if (error.code === 'EACCES' || error.code === 'EPERM') {
      return new DaemonUnreachable(
        `cannot connect to the typervisor daemon at ${where}: permission denied`,
        'the socket is only open to the user running the daemon (mode 0600)',
      );
    }
    const hint =
      this.target.kind === 'unix'
        ? 'is the daemon running? start it with `typervisor serve` (or point --socket / $TYPERVISOR_SOCKET at its socket)'
        : 'is the daemon running with `typervisor serve --listen HOST:PORT --token-file FILE`?';
    return new DaemonUnreachable(
      `cannot connect to the typervisor daemon at ${where}: ${error.code ?? error.message}`,
      hint,
    );
  }

  request(method: string, path: string, body?: unknown): Promise<Response> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json, text/plain' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const target = this.target;
    return new Promise<Response>((resolve, reject) => {
      let req: ReturnType<typeof httpRequest>;
      const onResponse = (res: import('node:http').IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      };
      if (target.kind === 'unix') {
        req = httpRequest({ socketPath: target.socketPath, method, path, headers }, onResponse);
      } else {
        if (target.token) headers.authorization = `Bearer ${target.token}`;
        const base = target.url.pathname.replace(/\/+$/, '');
        const make = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
        req = make(
          {
            hostname: target.url.hostname.replace(/^\[|\]$/g, ''),
            port: target.url.port || (target.url.protocol === 'https:' ? 443 : 80),
            method,
            path: `${base}${path}`,
            headers,
          },
          onResponse,
        );
      }
      req.on('error', (e: NodeJS.ErrnoException) => {
        // A refused or missing socket is "no daemon"; anything after the connection is made is not.
        const connectCodes = [
          'ECONNREFUSED',
          'ENOENT',
          'EACCES',
          'EPERM',
          'ENOTFOUND',
          'EHOSTUNREACH',
          'ENETUNREACH',
          'EAI_AGAIN',
          'ETIMEDOUT',
          'ENOTSOCK',
        ];
        reject(e.code && connectCodes.includes(e.code) ? this.unreachable(e) : e);
      });
      req.end(payload);
    });
  }

  /** A JSON request; statuses >= 400 become ApiError with the daemon's message. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    if (res.status >= 400) throw apiError(res);
    if (res.status === 204 || res.body.length === 0) return undefined as T;
    return JSON.parse(res.body.toString('utf8')) as T;
  }

  /** A request whose answer is bytes (logs, metrics). */
  async bytes(path: string): Promise<Buffer> {
    const res = await this.request('GET', path);
    if (res.status >= 400) throw apiError(res);
    return res.body;
  }

  /** Opens a WebSocket on `path` (e.g. /vms/NAME/console). */
  websocket(path: string): WebSocket {
    const target = this.target;
    if (target.kind === 'unix') {
      // ws's own scheme for Unix sockets: ws+unix:<socket path>:<request path>.
      return new WebSocket(`ws+unix:${target.socketPath}:${path}`);
    }
    const url = new URL(target.url.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
    return new WebSocket(url, target.token ? { headers: { authorization: `Bearer ${target.token}` } } : {});
  }

  /** Makes a failed WebSocket handshake or connection read like the HTTP errors. */
  websocketError(error: Error & { code?: string }, response?: { statusCode?: number; body?: string }): Error {
    if (response?.statusCode) {
      let message = `HTTP ${response.statusCode}`;
      try {
        message = (JSON.parse(response.body ?? '') as { error?: string }).error ?? message;
      } catch {
        // not JSON: keep the status
      }
      return new ApiError(response.statusCode, message);
    }
    if (error.code) return this.unreachable(error as NodeJS.ErrnoException);
    return error;
  }
}

function apiError(res: Response): ApiError {
  let message = `HTTP ${res.status}`;
  try {
    const parsed = JSON.parse(res.body.toString('utf8')) as { error?: unknown };
    if (typeof parsed.error === 'string') message = parsed.error;
  } catch {
    const text = res.body.toString('utf8').trim();
    if (text) message = `${message}: ${text.slice(0, 200)}`;
  }
  return new ApiError(res.status, message);
}
