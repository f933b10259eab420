/**
 * Names and paths inside a shared folder, as plain strings checked before any host call sees them:
 * a share-relative path is '/'-separated names, each one plain file name (no '.', '..', separators
 * or NUL), so that no name can climb out of the directory it is looked up in.
 */
import { ERRNO, FsError } from './fs-errno.js';

/** Linux's NAME_MAX: longer names no host file system takes. */
export const NAME_MAX = 255;

const utf8 = new TextEncoder();

/** Throws unless `name` is one plain file name (not '.', '..', no separators or NUL). */
export function checkName(name: string): void {
  if (name === '..') throw new FsError(ERRNO.EACCES, `'..' leads outside the share`);
  if (name === '' || name === '.' || name.includes('/') || name.includes('\0')) {
    throw new FsError(ERRNO.EINVAL, `'${name}' is not a file name`);
  }
  if (utf8.encode(name).length > NAME_MAX) throw new FsError(ERRNO.ENAMETOOLONG, 'name too long');
}

/**
 * The names of a share-relative path. '' and '.' components are dropped; '..' and absolute paths are
 * refused.
 */
export function components(rel: string): string[] {
  if (rel.startsWith('/')) throw new FsError(ERRNO.EACCES, `${rel}: absolute paths are outside the share`);
  const parts: string[] = [];
  for (const part of rel.split('/')) {
    if (part === '' || part === '.') continue;
    checkName(part);
    parts.push(part);
  }
  return parts;
}
