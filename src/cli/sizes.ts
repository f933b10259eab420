/** Parses sizes the way QEMU's -m does: a number with an optional K, M or G suffix (default M). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`${what}: '${text}' is not a size (examples: 256M, 1G, 65536K)`);
  const unit = m[2].toUpperCase();
  const scale = unit === 'K' ? 1024 : unit === 'G' ? 1024 ** 3 : 1024 ** 2;
  return Number(m[1]) * scale;
}

export function parseCount(text: string, what: string): number {
  const m = /^(\d+)([kMG]?)$/.exec(text.trim());
  if (!m) throw new Error(`${what}: '${text}' is not a count (examples: 1000000, 50M, 2G)`);
  const scale = m[2] === 'k' ? 1e3 : m[2] === 'M' ? 1e6 : m[2] === 'G' ? 1e9 : 1;
  return Number(m[1]) * scale;
}
