import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FdBudget, processFdBudget } from '../../src/storage/fd-budget.js';
import { ERRNO, FsError } from '../../src/storage/fs-errno.js';

const errnoOf = (fn: () => void): number => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FsError);
    return e.errno;
  }
  return 0;
};

test('an account holds at most its maximum (EMFILE), all accounts at most the budget (ENFILE)', () => {
  const budget = new FdBudget(100);
  const a = budget.account('a', { max: 80, reserve: 10 });
  const b = budget.account('b', { max: 80, reserve: 10 });
  for (let i = 0; i < 80; i++) a.acquire();
  assert.equal(
    errnoOf(() => a.acquire()),
    ERRNO.EMFILE,
    'a is at its own maximum',
  );
  // 100 - a's 80 - b's unused reservation of 10 = 10 left in the pool, plus b's 10 reserved.
  for (let i = 0; i < 20; i++) b.acquire();
  assert.equal(
    errnoOf(() => b.acquire()),
    ERRNO.ENFILE,
    'the budget is used up',
  );
  assert.equal(budget.held, 100);
  // A new account gets no reservation from a full budget, and nothing to borrow.
  const c = budget.account('c', { max: 80, reserve: 10 });
  assert.equal(
    errnoOf(() => c.acquire()),
    ERRNO.ENFILE,
  );
  // What a gives back, b (or c) may take.
  for (let i = 0; i < 30; i++) a.release();
  for (let i = 0; i < 30; i++) c.acquire();
  assert.equal(
    errnoOf(() => b.acquire()),
    ERRNO.ENFILE,
  );
  assert.equal(budget.held, 100);
  assert.throws(() => budget.account('d', { max: 1, reserve: 0 }).release(), /released more/);
});

test('a reservation stays usable however much the others take; closing an account frees it', () => {
  const budget = new FdBudget(50);
  const quiet = budget.account('quiet', { max: 100, reserve: 8 });
  const greedy = budget.account('greedy', { max: 100, reserve: 8 });
  let got = 0;
  while (errnoOf(() => greedy.acquire()) === 0) got++;
  assert.equal(got, 42, 'the greedy account gets all but the quiet one reservation');
  for (let i = 0; i < 8; i++) quiet.acquire();
  assert.equal(
    errnoOf(() => quiet.acquire()),
    ERRNO.ENFILE,
  );
  // Closed with descriptors still held: they stay counted until released.
  quiet.close();
  assert.equal(
    errnoOf(() => greedy.acquire()),
    ERRNO.ENFILE,
  );
  for (let i = 0; i < 8; i++) quiet.release();
  for (let i = 0; i < 8; i++) greedy.acquire();
  assert.equal(
    errnoOf(() => greedy.acquire()),
    ERRNO.ENFILE,
  );
  assert.equal(budget.held, 50);
});

test("the process budget is half the process's open-file limit, at most 16,384", (t) => {
  const limit = processFdBudget().limit;
  assert.equal(processFdBudget(), processFdBudget(), 'one budget per process');
  if (process.platform !== 'linux') return t.skip('the limit is read from /proc');
  const rlimit = Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);
  assert.equal(limit, Math.max(64, Math.min(16384, Math.floor(rlimit / 2))));
});
