/**
 * `typervisor serve`: the daemon. It opens the VM manager on a data directory and serves the REST
 * API on a Unix socket (mode 0600: the file system decides who may manage VMs) and, with a token,
 * on TCP. Logs are JSON lines on stderr. SIGINT/SIGTERM close the API, then stop the VMs.
 *
 * The API server and the manager are imported when the command runs, so that other commands
 * (`typervisor run`, ...) do not pay for loading Fastify.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { parseSize } from './sizes.js';

export function defaultDataDir(): string {
  const env = process.env.TYPERVISOR_DATA_DIR;
  if (env) return resolve(env);
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg ? resolve(xdg) : join(homedir(), '.local', 'share'), 'typervisor');
}

export function defaultSocketPath(dataDir = defaultDataDir()): string {
  return join(dataDir, 'typervisor.sock');
}

/** "HOST:PORT", "[v6]:PORT" or ":PORT" (all interfaces, which needs saying on purpose: "0.0.0.0:PORT"). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new InvalidArgumentError(`'${text}' is not HOST:PORT (examples: 127.0.0.1:8080, [::1]:8080)`);
  }
  return { host: m[1] ?? m[2], port };
}

export interface ServeOptions {
  dataDir: string;
  /** Directories disk images and boot files may come from ("DIR" or "DIR,ro"), besides the defaults. */
  imageRoot?: string[];
  /** Directories shared folders may come from. */
  shareRoot?: string[];
  socket?: string;
  listen?: { host: string; port: number };
  tokenFile?: string;
  memoryBudget?: number;
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;
type Level = keyof typeof LEVELS;

/** One JSON log line on stderr, in pino's shape so that daemon and API logs read alike. */
function logLine(level: number, fields: object): void {
  process.stderr.write(`${JSON.stringify({ level, time: Date.now(), pid: process.pid, ...fields })}\n`);
}

/** The manager's lines say `level: 'warn'` and `message`; pino wants its own level and `msg`. */
function splitManagerLine(line: object): { level: Level; fields: Record<string, unknown>; msg?: string } {
  // pino stamps its own time; a second "time" key would make the line ambiguous JSON.
  const { level, message, time: _time, ...fields } = line as Record<string, unknown>;
  return {
    level: typeof level === 'string' && level in LEVELS ? (level as Level) : 'info',
    fields,
    ...(typeof message === 'string' ? { msg: message } : {}),
  };
}

/** Failures before the daemon is up are for the person who typed the command: plain text. */
function fail(message: string, code: number): number {
  process.stderr.write(`typervisor serve: ${message}\n`);
  return code;
}

function readToken(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < 16) throw new Error(`${file}: the token must be at least 16 characters`);
  if ((statSync(file).mode & 0o077) !== 0) {
    logLine(40, { msg: `${file} can be read by other users; chmod 600 it` });
  }
  return token;
}

/** Runs the daemon until a signal; resolves to the exit code. */
export async function serve(options: ServeOptions): Promise<number> {
  const dataDir = resolve(options.dataDir);
  const socketPath = resolve(options.socket ?? defaultSocketPath(dataDir));
  let token: string | undefined;
  if (options.listen) {
    if (!options.tokenFile) {
      return fail('--listen needs --token-file: the API on TCP is only served to bearers of a token', 2);
    }
    try {
      token = readToken(options.tokenFile);
    } catch (e) {
      return fail((e as Error).message, 2);
    }
  }
  // The data directory holds VM definitions and the socket: other users have no business in it (the
  // manager also tightens one that already existed).
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const { createApiServer, listenApi } = await import('../api/server.js');
  const { VmManager } = await import('../vmm/vm-manager.js');
  const { parseRoot } = await import('../vmm/host-paths.js');
  let imageRoots: ReturnType<typeof parseRoot>[];
  let shareRoots: ReturnType<typeof parseRoot>[];
  try {
    imageRoots = (options.imageRoot ?? []).map(parseRoot);
    shareRoots = (options.shareRoot ?? []).map(parseRoot);
  } catch (e) {
    return fail((e as Error).message, 2);
  }

  // The manager logs before the API server (and its logger) exists; afterwards its lines go
  // through the same logger as the requests.
  let log = (line: object) => {
    const { level, fields, msg } = splitManagerLine(line);
    logLine(LEVELS[level], { ...fields, ...(msg !== undefined ? { msg } : {}) });
  };
  const manager = await VmManager.open({
    dataDir,
    imageRoots,
    shareRoots,
    ...(options.memoryBudget !== undefined ? { memoryBudgetBytes: options.memoryBudget } : {}),
    log: (line) => log(line),
  });
  let app: Awaited<ReturnType<typeof createApiServer>>;
  try {
    app = await createApiServer(manager, {
      ...(token !== undefined ? { token } : {}),
      logger: { level: process.env.TYPERVISOR_LOG_LEVEL ?? 'info', stream: process.stderr },
    });
    log = (line) => {
      const { level, fields, msg } = splitManagerLine(line);
      app.log[level](fields, msg);
    };
    const addresses = await listenApi(app, {
      socketPath,
      ...(options.listen ? { tcp: options.listen } : {}),
    });
    app.log.info({ dataDir, addresses, roots: manager.roots() }, 'typervisor daemon ready');
  } catch (e) {
    await manager.close();
    return fail((e as Error).message, 1);
  }

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        // A second signal means the user will not wait for the VMs to stop.
        app.log.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(130);
      }
      stopping = true;
      app.log.info({ signal }, 'shutting down: closing the API, then stopping the VMs');
      let code = 0;
      try {
        await app.close();
      } catch (e) {
        app.log.error({ err: e }, 'closing the API failed');
        code = 1;
      }
      try {
        await manager.close();
      } catch (e) {
        app.log.error({ err: e }, 'stopping the VMs failed');
        code = 1;
      }
      app.log.info('typervisor daemon stopped');
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      resolveExit(code);
    };
    const onSigint = () => void stop('SIGINT');
    const onSigterm = () => void stop('SIGTERM');
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the daemon: manage VMs and serve the REST API on a Unix socket (and TCP with a token)')
    // Usage errors exit 2, as for `typervisor vm` (commander's default of 1 reads as a failure).
    .exitOverride((err) => process.exit(err.exitCode === 1 ? 2 : err.exitCode))
    .option(
      '--data-dir <dir>',
      'VM definitions and state (default: $TYPERVISOR_DATA_DIR or ~/.local/share/typervisor)',
    )
    .option('--socket <path>', 'Unix socket of the API, mode 0600 (default: <data-dir>/typervisor.sock)')
    .option('--listen <host:port>', 'also serve the API on TCP; needs --token-file', parseListen)
    .option('--token-file <file>', 'file holding the bearer token TCP clients must send')
    .option(
      '--image-root <dir[,ro]>',
      'a directory VMs may take disk images, kernels, initrds and firmware from (repeatable; ",ro": read-only ' +
        "use only). The bundled guest, examples/ and Debian's firmware directories are always allowed read-only",
      collect,
    )
    .option(
      '--share-root <dir[,ro]>',
      'a directory VMs may share folders from (repeatable; ",ro": read-only shares only; default: none)',
      collect,
    )
    .option(
      '--memory-budget <size>',
      'host memory VMs may take in total (e.g. 4G; default: the manager decides)',
      (t) => {
        try {
          return parseSize(t, '--memory-budget');
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      },
    )
    .action(
      async (opts: {
        dataDir?: string;
        socket?: string;
        listen?: { host: string; port: number };
        tokenFile?: string;
        memoryBudget?: number;
        imageRoot?: string[];
        shareRoot?: string[];
      }) => {
        process.exitCode = await serve({ ...opts, dataDir: opts.dataDir ?? defaultDataDir() });
        // Everything is closed; should a handle still hold the event loop, do not hang the shell.
        setTimeout(() => process.exit(), 2000).unref();
      },
    );
}
