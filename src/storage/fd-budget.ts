/**
 * The host file descriptors a process lets its backends hold: a process-wide budget shared by every
 * account (one per shared folder, later per disk or socket backend), so that no number of guests can
 * exhaust the process's descriptors and break everyone else's I/O (the daemon's API, other VMs).
 *
 * Each account has its own maximum (over it: EMFILE, "this process has too many files", which is what
 * the guest sees) and a small reservation it can always use; beyond its reservation it borrows from
 * the pool the reservations leave, and when that pool is empty it gets ENFILE ("the system table is
 * full"). So a hostile guest can use up the pool, but every other account keeps its reservation.
 *
 * Invariant: reserved + borrowed <= limit, so the descriptors held by all accounts never exceed limit.
 */
import { readFileSync } from 'node:fs';
import { ERRNO, FsError } from './fs-errno.js';

/** The budget when the process's RLIMIT_NOFILE cannot be read. */
const FALLBACK_LIMIT = 1024;
/** At most this many descriptors for backends, however high the rlimit: more is never needed. */
const MAX_DEFAULT_LIMIT = 16384;

export class FdBudget {
  readonly limit: number;
  /** Sum of the accounts' reservations. */
  private reserved = 0;
  /** Descriptors held beyond their account's reservation. */
  private borrowed = 0;
  private heldTotal = 0;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new Error(`fd budget ${limit} is not a positive count`);
    this.limit = limit;
  }

  /** Descriptors held by all accounts now. */
  get held(): number {
    return this.heldTotal;
  }

  /**
   * A new account holding at most `max` descriptors, `reserve` of them guaranteed (less when the
   * budget has no more to set aside).
   */
  account(name: string, options: { max: number; reserve: number }): FdAccount {
    const reserve = Math.max(
      0,
      Math.min(options.reserve, options.max, this.limit - this.reserved - this.borrowed),
    );
    this.reserved += reserve;
    return new FdAccount(this, name, options.max, reserve);
  }

  /** @internal FdAccount's side of acquire: may it borrow one more from the pool? */
  borrow(): boolean {
    if (this.reserved + this.borrowed >= this.limit) return false;
    this.borrowed++;
    return true;
  }

  /** @internal */
  giveBack(): void {
    this.borrowed--;
  }

  /** @internal */
  count(delta: number): void {
    this.heldTotal += delta;
  }

  /**
   * @internal An account closed: its reservation returns to the pool, except for descriptors it still
   * holds, which become borrowed until released.
   */
  unreserve(reserve: number, held: number): void {
    this.reserved -= reserve;
    this.borrowed += Math.min(reserve, held);
  }
}

export class FdAccount {
  readonly name: string;
  readonly max: number;
  private readonly budget: FdBudget;
  private reserve: number;
  private heldCount = 0;

  constructor(budget: FdBudget, name: string, max: number, reserve: number) {
    this.budget = budget;
    this.name = name;
    this.max = max;
    this.reserve = reserve;
  }

  /** Descriptors this account holds now. */
  get held(): number {
    return this.heldCount;
  }

  /** Takes one descriptor from the budget (before opening it); throws FsError EMFILE or ENFILE. */
  acquire(): void {
    if (this.heldCount >= this.max)
      throw new FsError(ERRNO.EMFILE, `${this.name}: ${this.max} host files open, the most it may hold`);
    if (this.heldCount >= this.reserve && !this.budget.borrow())
      throw new FsError(
        ERRNO.ENFILE,
        `${this.name}: the process's budget of ${this.budget.limit} host files is used up`,
      );
    this.heldCount++;
    this.budget.count(1);
  }

  /** Gives back one descriptor (after closing it, or when opening it failed). */
  release(): void {
    if (this.heldCount === 0) throw new Error(`${this.name}: released more descriptors than it acquired`);
    this.heldCount--;
    this.budget.count(-1);
    if (this.heldCount >= this.reserve) this.budget.giveBack();
  }

  /** Runs `open` with a descriptor taken from the budget; gives it back if the open fails. */
  async opening<T>(open: () => Promise<T>): Promise<T> {
    this.acquire();
    try {
      return await open();
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** The account is done: its reservation returns to the pool (descriptors still held count on). */
  close(): void {
    this.budget.unreserve(this.reserve, this.heldCount);
    this.reserve = 0;
  }
}

/** The soft RLIMIT_NOFILE of this process, from /proc (null where there is none). */
function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

let processBudget: FdBudget | null = null;

/**
 * The budget every backend of this process shares by default: half the process's open-file limit
 * (the other half stays for the daemon's sockets, disks and runners), at most 16,384.
 */
export function processFdBudget(): FdBudget {
  if (processBudget === null) {
    const rlimit = openFileLimit();
    processBudget = new FdBudget(
      rlimit === null ? FALLBACK_LIMIT : Math.max(64, Math.min(MAX_DEFAULT_LIMIT, Math.floor(rlimit / 2))),
    );
  }
  return processBudget;
}
