// Recomputes the results the CPU benchmarks (bench/programs/*.c) check themselves against, with an
// implementation that shares no code with them (JavaScript, BigInt, node:zlib and node:crypto), and
// compares them with the constants in the sources. The sizes are read from the sources' #defines, so
// after scaling a benchmark this says which constants to change; `scripts/build-baremetal.sh
// --host-check` is the other, native check of the same constants.
//
// Usage: node scripts/bench-expected.mjs   (exit status 1 when a constant in a source is wrong)
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';

const PROGRAMS = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'programs');
const M64 = (1n << 64n) - 1n;
const u64 = (x) => x & M64;

function source(name) {
  return readFileSync(join(PROGRAMS, `${name}.c`), 'utf8');
}

/** The value of `#define NAME V` where V is a decimal number or `(Au << B)`. */
function define(text, name) {
  const m = new RegExp(`^#define ${name} (.+)$`, 'm').exec(text);
  if (!m) throw new Error(`no #define ${name}`);
  const v = m[1].trim();
  const shift = /^\((\d+)u? << (\d+)\)$/.exec(v);
  if (shift) return Number(shift[1]) * 2 ** Number(shift[2]);
  if (/^\d+$/.test(v)) return Number(v);
  throw new Error(`#define ${name} ${v}: not a form this script understands`);
}

/** The constant a source compares a result with, by the check's label. */
function expected(text, label) {
  const esc = label.replace(/[()"\\]/g, (c) => `\\${c === '"' ? '\\"' : c}`);
  const u = new RegExp(`bench_check_u64\\("${esc}",[^;]*?(0x[0-9a-f]+)u?l?l?\\)`).exec(text);
  if (u) return BigInt(u[1]);
  const h = new RegExp(`bench_check_hex\\("${esc}",[^;]*?"([0-9a-f]+)"\\)`).exec(text);
  if (h) return h[1];
  throw new Error(`no check labelled ${label}`);
}

/** Knuth's MMIX LCG, as bench.h. */
function lcg(seed) {
  let x = BigInt(seed);
  return () => {
    x = u64(x * 6364136223846793005n + 1442695040888963407n);
    return x;
  };
}

/** `words` LCG outputs as little-endian bytes, as the programs fill their uint64_t buffers. */
function lcgBytes(seed, words) {
  const next = lcg(seed);
  const a = new BigUint64Array(words);
  for (let i = 0; i < words; i++) a[i] = next();
  return new Uint8Array(a.buffer);
}

function crc32Program() {
  const text = source('crc32');
  const buf = lcgBytes(1, define(text, 'BUF_BYTES') / 8);
  let crc = 0;
  for (let p = 0; p < define(text, 'PASSES'); p++) crc = crc32(buf, crc);
  return [text, { 'crc32(data)': BigInt(crc >>> 0) }];
}

function sha256Program() {
  const text = source('sha256');
  const buf = lcgBytes(2, define(text, 'BUF_BYTES') / 8);
  const h = createHash('sha256');
  for (let p = 0; p < define(text, 'PASSES'); p++) h.update(buf);
  return [text, { 'sha256(data)': h.digest('hex') }];
}

function qsortProgram() {
  const text = source('qsort');
  const n = define(text, 'N');
  const next = lcg(3);
  let sum = 0n;
  for (let rep = 0; rep < define(text, 'REPEATS'); rep++) {
    const a = new BigUint64Array(n);
    for (let i = 0; i < n; i++) a[i] = next();
    a.sort();
    for (let i = 0; i < n; i++) sum = u64(sum + a[i] * BigInt(i + 1));
  }
  return [text, { 'qsort checksum': sum }];
}

function matmulProgram() {
  const text = source('matmul');
  const n = define(text, 'N');
  const next = lcg(4);
  // Eighths as integers: products and sums are then exact integers (64ths of the real entries).
  const a = new Int32Array(n * n);
  const b = new Int32Array(n * n);
  for (let i = 0; i < n * n; i++) {
    a[i] = Number(next() >> 59n) - 16;
    b[i] = Number(next() >> 59n) - 16;
  }
  let weighted = 0n;
  let squares = 0n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let c = 0;
      for (let k = 0; k < n; k++) c += a[i * n + k] * b[k * n + j];
      weighted += BigInt(c) * BigInt(i * n + j + 1);
      squares += BigInt(c) * BigInt(c);
    }
  }
  // The C sums squares of 64ths in binary64; exact while the sum stays below 2^53 4096ths.
  if (squares >= 2n ** 53n) throw new Error('matmul: the sum of squares is no longer exact in binary64');
  const norm = new Float64Array([Math.sqrt(Number(squares) / 4096)]);
  return [
    text,
    {
      'matmul weighted sum': u64(weighted),
      'matmul frobenius norm bits': new BigUint64Array(norm.buffer)[0],
    },
  ];
}

function intmixProgram() {
  const text = source('intmix');

  let total = 0n;
  for (let n = 1; n < define(text, 'COLLATZ_LIMIT'); n++) {
    for (let x = n; x !== 1; x = x % 2 ? 3 * x + 1 : x / 2) total++;
  }

  const fnv = (s) => {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
    return BigInt(h);
  };
  const counts = new Map(); // insertion order = the C's entries[] order
  const word = lcg(5);
  for (let i = 0; i < define(text, 'WORDS'); i++) {
    const r = word();
    const len = 2 + Number(r >> 62n);
    let w = '';
    for (let k = 0; k < len; k++) w += String.fromCharCode(97 + Number((r >> BigInt(8 * k + 8)) % 7n));
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  let words = 0n;
  for (const [w, c] of counts) words = u64(words + fnv(w) * BigInt(c));
  words ^= BigInt(counts.size) << 48n;

  const gcdN = define(text, 'GCD_N');
  let gcds = 0n;
  for (let i = 1; i <= gcdN; i++) {
    for (let j = 1; j <= gcdN; j++) {
      let x = i * 1000003;
      let y = j * 999983;
      while (y) [x, y] = [y, x % y];
      gcds += BigInt(x);
    }
  }

  const RECORDS = 1024;
  const rec = lcg(6);
  const recs = [];
  for (let i = 0; i < RECORDS; i++) {
    const v = rec();
    const tag = [];
    for (let k = 0; k < 8; k++) tag.push(BigInt.asIntN(8, v >> BigInt(8 * k)));
    recs.push({ kind: Number(v & 3n), value: v >> 40n, acc: v >> 20n, tag, next: (i * 389 + 1) % RECORDS });
  }
  let r = 0;
  for (let x = 0n; x < BigInt(define(text, 'RECORD_STEPS')); x++) {
    const e = recs[r];
    switch (e.kind) {
      case 0:
        e.acc = u64(e.acc + e.value + x);
        break;
      case 1:
        e.acc = u64((e.acc ^ x) + e.tag[Number(x & 7n)]);
        break;
      case 2:
        e.acc = u64(e.acc * 3n + (x >> 3n) - e.value);
        break;
      default:
        e.acc = u64((e.acc << 1n) ^ (e.acc >> 7n) ^ x);
    }
    e.kind = (e.kind + Number(e.acc & 1n) + 1) & 3;
    r = e.next;
  }
  let records = 0n;
  for (const e of recs) records = u64(records * 31n + e.acc + BigInt(e.kind));

  return [text, { 'collatz total': total, 'word counts': words, 'gcd sum': gcds, records }];
}

let bad = 0;
for (const [name, compute] of [
  ['crc32', crc32Program],
  ['sha256', sha256Program],
  ['qsort', qsortProgram],
  ['matmul', matmulProgram],
  ['intmix', intmixProgram],
]) {
  const [text, results] = compute();
  for (const [label, got] of Object.entries(results)) {
    const want = expected(text, label);
    const show = (v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v);
    const ok = got === want;
    if (!ok) bad++;
    console.log(
      `${ok ? 'ok      ' : 'MISMATCH'} ${name}: ${label} = ${show(got)}${ok ? '' : ` (the source has ${show(want)})`}`,
    );
  }
}
process.exit(bad ? 1 : 0);
