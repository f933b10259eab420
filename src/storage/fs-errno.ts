/**
 * Linux errno numbers and the error type shared folders throw. They are Linux's whatever the host,
 * because they go to a Linux guest (9P2000.L's Rlerror carries them as they are).
 */

/** Linux errno numbers the 9P2000.L Rlerror reply carries. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOVERFLOW: 75,
  EILSEQ: 84,
  EOPNOTSUPP: 95,
  EDQUOT: 122,
} as const;

export class FsError extends Error {
  /** Linux errno. */
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(message);
    this.errno = errno;
  }
}

/** Node's error codes are the same names on every host; their numbers are not. */
const CODE_TO_ERRNO: Record<string, number> = {
  EPERM: ERRNO.EPERM,
  ENOENT: ERRNO.ENOENT,
  EIO: ERRNO.EIO,
  EBADF: ERRNO.EBADF,
  EAGAIN: ERRNO.EAGAIN,
  EWOULDBLOCK: ERRNO.EAGAIN,
  ENOMEM: ERRNO.ENOMEM,
  EACCES: ERRNO.EACCES,
  EBUSY: ERRNO.EBUSY,
  EEXIST: ERRNO.EEXIST,
  EXDEV: ERRNO.EXDEV,
  ENOTDIR: ERRNO.ENOTDIR,
  EISDIR: ERRNO.EISDIR,
  EINVAL: ERRNO.EINVAL,
  ENFILE: ERRNO.ENFILE,
  EMFILE: ERRNO.EMFILE,
  ETXTBSY: ERRNO.ETXTBSY,
  EFBIG: ERRNO.EFBIG,
  ENOSPC: ERRNO.ENOSPC,
  EROFS: ERRNO.EROFS,
  EMLINK: ERRNO.EMLINK,
  ERANGE: ERRNO.ERANGE,
  ENAMETOOLONG: ERRNO.ENAMETOOLONG,
  ENOSYS: ERRNO.ENOSYS,
  ENOTEMPTY: ERRNO.ENOTEMPTY,
  ELOOP: ERRNO.ELOOP,
  ENODATA: ERRNO.ENODATA,
  EOVERFLOW: ERRNO.EOVERFLOW,
  EILSEQ: ERRNO.EILSEQ,
  ENOTSUP: ERRNO.EOPNOTSUPP,
  EOPNOTSUPP: ERRNO.EOPNOTSUPP,
  EDQUOT: ERRNO.EDQUOT,
};

/** The Linux errno for any error a host call threw (EIO when nothing better is known). */
export function errnoOf(e: unknown): number {
  if (e instanceof FsError) return e.errno;
  const code = (e as { code?: unknown } | undefined)?.code;
  return (typeof code === 'string' && CODE_TO_ERRNO[code]) || ERRNO.EIO;
}

/** Rethrows a host error as FsError, so callers only ever see Linux errnos. */
export function rethrow(e: unknown): never {
  if (e instanceof FsError) throw e;
  throw new FsError(errnoOf(e), (e as Error)?.message ?? String(e));
}
