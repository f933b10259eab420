/**
 * VM definitions on disk: one JSON file per VM, `<dataDir>/vms/<name>.json`.
 *
 * Why files and not a database: no native dependency to build on every host, definitions a person can
 * read (and back up, or fix) with any editor, and a crash can never leave a half-written definition,
 * because every write goes to a temporary file that is fsynced and then renamed over the old one
 * (rename is atomic on POSIX file systems); the directory is fsynced too so that the rename itself
 * survives a power cut.
 *
 * Definitions name host paths and hold the VMs' MACs: they are the daemon user's alone (directory
 * 0700, files 0600), including definitions and directories an older version left more open.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmSpec } from './types.js';

const SUFFIX = '.json';
const TEMP_SUFFIX = '.json.tmp';

export class VmStore {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'vms');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
  }

  /** Every stored definition; files that do not parse are reported, not fatal. */
  async load(onBad: (file: string, error: string) => void): Promise<VmSpec[]> {
    const specs: VmSpec[] = [];
    for (const file of (await readdir(this.dir)).sort()) {
      const path = join(this.dir, file);
      if (file.endsWith(TEMP_SUFFIX)) {
        // A write that never reached its rename: the definition before it is still in place.
        await rm(path, { force: true });
        continue;
      }
      if (!file.endsWith(SUFFIX)) continue;
      try {
        await chmod(path, 0o600);
        const spec = JSON.parse(await readFile(path, 'utf8')) as VmSpec;
        if (typeof spec !== 'object' || spec === null || `${spec.name}${SUFFIX}` !== file)
          throw new Error('the name inside does not match the file name');
        specs.push(spec);
      } catch (e) {
        onBad(path, (e as Error).message);
      }
    }
    return specs;
  }

  async save(spec: VmSpec): Promise<void> {
    const path = join(this.dir, `${spec.name}${SUFFIX}`);
    const temp = join(this.dir, `${spec.name}${TEMP_SUFFIX}`);
    const file = await open(temp, 'w', 0o600);
    try {
      // A temporary file left by a crash keeps its old mode through 'w': set it.
      await file.chmod(0o600);
      await file.writeFile(`${JSON.stringify(spec, null, 2)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    this.syncDir();
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.dir, `${name}${SUFFIX}`), { force: true });
    this.syncDir();
  }

  private syncDir(): void {
    // Not every platform can fsync a directory (Windows cannot open one); the rename is still atomic.
    try {
      const fd = openSync(this.dir, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {}
  }
}
