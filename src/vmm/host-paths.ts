/**
 * Which host paths an API client may make the daemon open: disk images, kernels, initrds and firmware
 * under the image roots, shared folders under the share roots (as libvirt's storage pools), never the
 * daemon's data dir or anything in it, and only files of the right kind (a disk or kernel is a regular
 * file: a FIFO would block whoever opens it, /dev/zero never ends).
 *
 * Every check works on the real path (symlinks resolved) and only with lstat/stat/realpath, which never
 * open the file and so cannot block on it. The answer includes the file's identity ("dev:ino"): the
 * runner opens the path and refuses it unless it is still that file, which closes the race between this
 * check and the open; the same identity tells when two VMs name one disk image by different paths.
 */
import { type BigIntStats, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileIdentity, fileKind } from '../storage/file-identity.js';
import { VmmError } from './types.js';

export interface AllowedRoot {
  path: string;
  /** Files under it may be used read-only only (kernels, firmware, read-only disks; read-only shares). */
  readOnly: boolean;
}

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Always allowed, read-only: the bundled guest and examples, images fetched by the repository's scripts
 * (build/), and where Debian puts the RISC-V firmware the examples boot (opensbi, u-boot-qemu, qemu).
 */
export const DEFAULT_IMAGE_ROOTS: readonly AllowedRoot[] = [
  join(REPO_ROOT, 'images'),
  join(REPO_ROOT, 'examples'),
  join(REPO_ROOT, 'build'),
  '/usr/lib/riscv64-linux-gnu/opensbi',
  '/usr/lib/u-boot',
  '/usr/share/qemu',
].map((path) => ({ path, readOnly: true }));

/** "DIR" or "DIR,ro", as `serve --image-root` and `--share-root` take them. */
export function parseRoot(text: string): AllowedRoot {
  const readOnly = text.endsWith(',ro');
  const path = readOnly ? text.slice(0, -3) : text;
  if (path === '') throw new Error(`'${text}' names no directory`);
  return { path: resolve(path), readOnly };
}

export type PathKind = 'image' | 'share';

export interface CheckedPath {
  /** The path with every symlink resolved: what the runner opens. */
  real: string;
  identity: string;
}

interface Root extends AllowedRoot {
  real: string;
}

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

export class HostPaths {
  readonly imageRoots: readonly Root[];
  readonly shareRoots: readonly Root[];
  private readonly dataDir: string;

  /**
   * Roots that do not exist (a firmware package not installed) are left out; roots inside the data dir
   * are refused (`onProblem` hears why), as the data dir holds the daemon's own state.
   */
  constructor(
    dataDir: string,
    roots: { image: readonly AllowedRoot[]; share: readonly AllowedRoot[] },
    onProblem: (message: string) => void = () => {},
  ) {
    this.dataDir = realpathSync(dataDir);
    const real = (list: readonly AllowedRoot[], what: string): Root[] => {
      const out: Root[] = [];
      for (const root of list) {
        let path: string;
        try {
          path = realpathSync(root.path);
          if (!statSync(path).isDirectory()) throw new Error('not a directory');
        } catch (e) {
          if (!DEFAULT_IMAGE_ROOTS.includes(root))
            onProblem(`${what} ${root.path} is left out: ${(e as Error).message}`);
          continue;
        }
        if (inside(path, this.dataDir)) {
          onProblem(`${what} ${root.path} is left out: it is inside the data dir ${this.dataDir}`);
          continue;
        }
        out.push({ ...root, real: path });
      }
      return out;
    };
    this.imageRoots = real([...DEFAULT_IMAGE_ROOTS, ...roots.image], 'image root');
    this.shareRoots = real(roots.share, 'share root');
  }

  /**
   * Checks `path` (named `field` in messages) for use as an image file or a shared folder: 403 when it
   * is outside the roots or touches the data dir, 422 when it does not exist, is the wrong kind of file
   * or is larger than `maxBytes`. `root: null` skips the roots (the daemon's own bundled guest).
   */
  check(
    field: string,
    path: string,
    options: { kind: PathKind; write: boolean; maxBytes?: number; root?: null },
  ): CheckedPath {
    const shown = `${field}: ${path}`;
    let real: string;
    try {
      real = realpathSync(path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new VmmError(422, err.code === 'ENOENT' ? `${shown}: no such file` : `${shown}: ${err.message}`);
    }
    if (inside(real, this.dataDir))
      throw new VmmError(403, `${shown}: is inside the daemon's data dir, which VMs never get`);
    if (options.kind === 'share' && inside(this.dataDir, real))
      throw new VmmError(403, `${shown}: contains the daemon's data dir, which VMs never get`);
    if (options.root !== null) this.checkRoots(shown, real, options.kind, options.write);
    let st: BigIntStats;
    try {
      st = statSync(real, { bigint: true });
    } catch (e) {
      throw new VmmError(422, `${shown}: ${(e as Error).message}`);
    }
    if (options.kind === 'image' && !st.isFile())
      throw new VmmError(422, `${shown}: not a regular file (${fileKind(st)})`);
    if (options.kind === 'share' && !st.isDirectory())
      throw new VmmError(422, `${shown}: not a directory (${fileKind(st)})`);
    if (options.maxBytes !== undefined && st.size > BigInt(options.maxBytes)) {
      throw new VmmError(
        422,
        `${shown}: ${st.size} bytes, more than the ${Math.floor(options.maxBytes / 2 ** 20)} MiB of the VM's RAM`,
      );
    }
    return { real, identity: fileIdentity(st) };
  }

  private checkRoots(shown: string, real: string, kind: PathKind, write: boolean): void {
    const roots = kind === 'image' ? this.imageRoots : this.shareRoots;
    const flag = kind === 'image' ? '--image-root' : '--share-root';
    const under = roots.filter((r) => inside(real, r.real));
    if (under.length === 0) {
      const list = roots.length === 0 ? 'none are configured' : roots.map((r) => r.real).join(', ');
      throw new VmmError(
        403,
        `${shown}: is outside the allowed ${kind} roots (${list}); the daemon's \`serve ${flag} DIR\` allows more`,
      );
    }
    if (write && under.every((r) => r.readOnly)) {
      throw new VmmError(
        403,
        `${shown}: is under a read-only ${kind} root (${under[0].real}); use it read-only, or allow writing with \`serve ${flag} DIR\``,
      );
    }
  }
}
