/** Seeded randomness for the fuzz tests: reproducible from a printed seed, on any machine. */

/** xorshift32: small, fast, reproducible; returns unsigned 32-bit values. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function pick<T>(r: () => number, items: readonly T[]): T {
  return items[r() % items.length];
}
