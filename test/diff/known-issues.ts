// Typervisor bugs that the differential test has found and that are not fixed yet. A mismatch
// matching one of these is reported as a diagnostic (and in a todo test) instead of failing the
// run, so that one open bug does not block every other change; anything else still fails.
// Each predicate is as narrow as the bug: delete the entry when the bug is fixed.

import type { Mismatch, TrapRecord } from './harness.js';

export interface KnownIssue {
  id: string;
  description: string;
  /** Directed sequences (directed.ts) that reproduce it. */
  directed: string[];
  matches(m: Mismatch): boolean;
}

/** True if the trap lists differ only where `differs` accepts the pair. */
export function trapsDifferOnlyBy(m: Mismatch, differs: (q: TrapRecord, t: TrapRecord) => boolean): boolean {
  if (m.diffs.some((d) => d.what !== 'traps')) return false;
  const q = m.qemu.traps;
  const t = m.typervisor.traps;
  if (q.length !== t.length || m.qemu.trapCount !== m.typervisor.trapCount) return false;
  let any = false;
  for (let i = 0; i < q.length; i++) {
    const same = q[i].cause === t[i].cause && q[i].tval === t[i].tval && q[i].offset === t[i].offset;
    if (same) continue;
    if (!differs(q[i], t[i])) return false;
    any = true;
  }
  return any;
}

// Fixed issues are removed from here; their directed reproducers stay in directed.ts. Example
// of an entry (the first bug this test found, fixed since):
//   {
//     id: 'mtval-straddle-frm',
//     description: 'illegal FP insn (reserved frm) across a page boundary: mtval had 16 bits',
//     directed: ['illegal-frm-straddle'],
//     matches: (m) => trapsDifferOnlyBy(m, (q, t) => q.cause === 2n && t.tval === (q.tval & 0xffffn)),
//   },
export const KNOWN_ISSUES: KnownIssue[] = [];

export function knownIssueOf(m: Mismatch): KnownIssue | undefined {
  return KNOWN_ISSUES.find((k) => k.matches(m));
}
