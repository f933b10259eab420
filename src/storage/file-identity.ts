/**
 * A host file's identity: its device and inode, as "dev:ino". Two paths name the same file exactly
 * when their identities are equal (symlinks, hard links, bind mounts and /proc/self/root paths
 * included), and a file opened after a check is the checked one exactly when its identity matches.
 */
import type { BigIntStats } from 'node:fs';

export function fileIdentity(st: Pick<BigIntStats, 'dev' | 'ino'>): string {
  return `${st.dev}:${st.ino}`;
}

/** What kind of file a stat describes, for messages ("not a regular file (a FIFO)"). */
export function fileKind(st: {
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSymbolicLink(): boolean;
}): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a plain file';
}

/** Thrown when what was opened is not the file that was checked (it was replaced in between). */
export class IdentityMismatchError extends Error {}

export function expectIdentity(path: string, st: Pick<BigIntStats, 'dev' | 'ino'>, expected?: string): void {
  if (expected === undefined) return;
  const actual = fileIdentity(st);
  if (actual !== expected) {
    throw new IdentityMismatchError(
      `${path}: was replaced after the daemon checked it (device:inode ${actual}, checked ${expected})`,
    );
  }
}
