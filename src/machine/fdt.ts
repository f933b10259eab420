/**
 * Flattened devicetree (FDT, "DTB") builder, writer and parser, after the Devicetree Specification
 * v0.4, chapter 5.
 *
 * A blob is: a 40-byte header, the memory reservation block (pairs of big-endian u64 address/size,
 * 8-byte aligned, ended by a 0/0 pair), the structure block (big-endian u32 tokens, every token
 * 4-byte aligned) and the strings block (NUL-terminated property names, no alignment). Everything
 * is big-endian whatever the host or guest.
 *
 * The tree is kept as plain objects so that the board can build one, the boot code can read one back
 * and patch it (for example /chosen), and tests can compare two of them. Property order and child
 * order are kept as inserted, because software walks the blob in that order and we want ours to
 * match QEMU's byte for byte where we can.
 */

export const FDT_MAGIC = 0xd00dfeed;
/** We write version 17 and claim compatibility down to 16, the only two versions in use today. */
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;

const FDT_BEGIN_NODE = 0x1;
const FDT_END_NODE = 0x2;
const FDT_PROP = 0x3;
const FDT_NOP = 0x4;
const FDT_END = 0x9;

const HEADER_SIZE = 40;
const RESERVE_ENTRY_SIZE = 16;

const utf8Encoder = new TextEncoder();
// fatal: a property that is not valid UTF-8 is not a string, and getString should say so.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export interface MemoryReservation {
  address: bigint;
  size: bigint;
}

function checkU32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what}: ${v} is not a u32`);
  return v;
}

function toU64(v: number | bigint, what: string): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: ${v} is not a u64`);
    return BigInt(v);
  }
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`${what}: ${v} is not a u64`);
  return v;
}

/** A 64-bit value as two cells, high first: the form of reg/ranges entries with 2 address or size cells. */
export function u64Cells(v: number | bigint): [number, number] {
  const b = toU64(v, 'u64Cells');
  return [Number(b >> 32n), Number(b & 0xffffffffn)];
}

function encodeString(s: string, what: string): Uint8Array {
  if (s.includes('\0')) throw new RangeError(`${what}: strings cannot contain NUL`);
  const bytes = utf8Encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

// Names follow the spec's character sets loosely: we reject what would corrupt the blob or make paths
// ambiguous, not every character dtc would frown upon.
function checkNodeName(name: string): void {
  if (name.length === 0 || name.includes('/') || name.includes('\0')) {
    throw new RangeError(`invalid node name ${JSON.stringify(name)}`);
  }
}

function checkPropName(name: string): void {
  if (name.length === 0 || name.includes('\0'))
    throw new RangeError(`invalid property name ${JSON.stringify(name)}`);
}

export class FdtNode {
  readonly name: string;
  readonly children: FdtNode[] = [];
  private readonly props = new Map<string, Uint8Array>();

  constructor(name: string) {
    this.name = name;
  }

  // ---- children ----

  /** Appends a child; names must be unique among siblings (the unit address makes them so). */
  addNode(name: string): FdtNode {
    checkNodeName(name);
    if (this.child(name)) throw new Error(`node ${JSON.stringify(name)} already exists`);
    const node = new FdtNode(name);
    this.children.push(node);
    return node;
  }

  child(name: string): FdtNode | undefined {
    return this.children.find((c) => c.name === name);
  }

  removeNode(name: string): boolean {
    const i = this.children.findIndex((c) => c.name === name);
    if (i < 0) return false;
    this.children.splice(i, 1);
    return true;
  }

  // ---- setting properties (setting an existing property keeps its place) ----

  setBytes(name: string, value: Uint8Array): this {
    checkPropName(name);
    this.props.set(name, value.slice());
    return this;
  }

  /** A property with no value: a boolean flag such as interrupt-controller or ranges. */
  setEmpty(name: string): this {
    return this.setBytes(name, new Uint8Array(0));
  }

  setU32(name: string, value: number): this {
    return this.setCells(name, [value]);
  }

  setU64(name: string, value: number | bigint): this {
    return this.setCells(name, u64Cells(value));
  }

  setCells(name: string, cells: readonly number[]): this {
    const out = new Uint8Array(cells.length * 4);
    const view = new DataView(out.buffer);
    for (const [i, c] of cells.entries()) view.setUint32(i * 4, checkU32(c, `${this.name}/${name}[${i}]`));
    return this.setBytes(name, out);
  }

  setString(name: string, value: string): this {
    return this.setBytes(name, encodeString(value, `${this.name}/${name}`));
  }

  /** A stringlist: each string NUL-terminated, back to back (compatible = "a", "b"). */
  setStrings(name: string, values: readonly string[]): this {
    const parts = values.map((v) => encodeString(v, `${this.name}/${name}`));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return this.setBytes(name, out);
  }

  setPhandle(phandle: number): this {
    if (phandle === 0 || phandle === 0xffffffff) throw new RangeError(`phandle ${phandle} is reserved`);
    return this.setU32('phandle', phandle);
  }

  deleteProp(name: string): boolean {
    return this.props.delete(name);
  }

  // ---- reading properties ----

  has(name: string): boolean {
    return this.props.has(name);
  }

  propNames(): string[] {
    return [...this.props.keys()];
  }

  /** The raw value (a copy, so that callers cannot change the tree behind its back). */
  get(name: string): Uint8Array | undefined {
    return this.props.get(name)?.slice();
  }

  getCells(name: string): number[] | undefined {
    const v = this.props.get(name);
    if (!v) return undefined;
    if (v.length % 4)
      throw new Error(`${this.name}/${name}: ${v.length} bytes is not a whole number of cells`);
    const view = new DataView(v.buffer, v.byteOffset, v.byteLength);
    const cells: number[] = [];
    for (let i = 0; i < v.length; i += 4) cells.push(view.getUint32(i));
    return cells;
  }

  getU32(name: string): number | undefined {
    const cells = this.getCells(name);
    if (!cells) return undefined;
    if (cells.length !== 1) throw new Error(`${this.name}/${name}: expected one cell, found ${cells.length}`);
    return cells[0];
  }

  /** One or two cells read as an unsigned number, as Linux reads linux,initrd-start and friends. */
  getU64(name: string): bigint | undefined {
    const cells = this.getCells(name);
    if (!cells) return undefined;
    if (cells.length === 1) return BigInt(cells[0]);
    if (cells.length === 2) return (BigInt(cells[0]) << 32n) | BigInt(cells[1]);
    throw new Error(`${this.name}/${name}: expected one or two cells, found ${cells.length}`);
  }

  getStrings(name: string): string[] | undefined {
    const v = this.props.get(name);
    if (!v) return undefined;
    if (v.length === 0 || v[v.length - 1] !== 0)
      throw new Error(`${this.name}/${name} is not NUL-terminated`);
    return utf8Decoder.decode(v.subarray(0, v.length - 1)).split('\0');
  }

  getString(name: string): string | undefined {
    const list = this.getStrings(name);
    if (!list) return undefined;
    if (list.length !== 1) throw new Error(`${this.name}/${name} holds ${list.length} strings, not one`);
    return list[0];
  }

  get phandle(): number | undefined {
    return this.getU32('phandle');
  }
}

/** Growable big-endian byte buffer for the writer. */
class Out {
  bytes = new Uint8Array(4096);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  u32(v: number): void {
    this.reserve(4);
    new DataView(this.bytes.buffer).setUint32(this.length, v);
    this.length += 4;
  }

  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }

  align4(): void {
    const pad = (4 - (this.length & 3)) & 3;
    this.reserve(pad);
    this.bytes.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

export interface ToBlobOptions {
  /**
   * Pad the blob with free space up to this total size. The spec lets totalsize include free space,
   * and firmware that edits the tree in place (fdt_open_into style) can then grow it without moving.
   */
  minSize?: number;
}

export class Fdt {
  readonly root = new FdtNode('');
  readonly reservations: MemoryReservation[] = [];
  /** The physical id (the reg of the cpu node) of the hart that boots. */
  bootCpuidPhys = 0;
  private lastPhandle = 0;

  /**
   * A fresh phandle, counting up from 1 (as QEMU does) or from the largest one in a parsed blob. The
   * caller sets it where it wants it in the property order; phandles set by hand with
   * FdtNode.setPhandle are not seen, so do not mix the two on one tree.
   */
  allocPhandle(): number {
    this.lastPhandle += 1;
    return this.lastPhandle;
  }

  addReservation(address: number | bigint, size: number | bigint): void {
    this.reservations.push({
      address: toU64(address, 'reservation address'),
      size: toU64(size, 'reservation size'),
    });
  }

  /** The node at an absolute path such as "/soc/serial@10000000", or undefined. */
  find(path: string): FdtNode | undefined {
    if (!path.startsWith('/')) throw new RangeError(`not an absolute path: ${path}`);
    let node: FdtNode | undefined = this.root;
    for (const part of path.split('/')) {
      if (part === '') continue;
      node = node.child(part);
      if (!node) return undefined;
    }
    return node;
  }

  /** The node at an absolute path, creating missing nodes on the way (for /chosen and the like). */
  ensure(path: string): FdtNode {
    if (!path.startsWith('/')) throw new RangeError(`not an absolute path: ${path}`);
    let node = this.root;
    for (const part of path.split('/')) {
      if (part === '') continue;
      node = node.child(part) ?? node.addNode(part);
    }
    return node;
  }

  /** Every node with its absolute path, parents before children, in blob order. */
  *walk(): Generator<[string, FdtNode]> {
    const stack: [string, FdtNode][] = [['/', this.root]];
    while (stack.length) {
      const [path, node] = stack.pop()!;
      yield [path, node];
      for (let i = node.children.length - 1; i >= 0; i--) {
        const child = node.children[i];
        stack.push([path === '/' ? `/${child.name}` : `${path}/${child.name}`, child]);
      }
    }
  }

  findByPhandle(phandle: number): FdtNode | undefined {
    for (const [, node] of this.walk()) if (node.has('phandle') && node.phandle === phandle) return node;
    return undefined;
  }

  pathOf(target: FdtNode): string | undefined {
    for (const [path, node] of this.walk()) if (node === target) return path;
    return undefined;
  }

  private maxPhandle(): number {
    let max = 0;
    for (const [, node] of this.walk()) if (node.has('phandle')) max = Math.max(max, node.phandle ?? 0);
    return max;
  }

  toBlob(options: ToBlobOptions = {}): Uint8Array {
    // Property names are stored once each in the strings block, in order of first use.
    const strings = new Out();
    const nameOffsets = new Map<string, number>();
    const nameOffset = (name: string): number => {
      let off = nameOffsets.get(name);
      if (off === undefined) {
        off = strings.length;
        nameOffsets.set(name, off);
        strings.raw(encodeString(name, 'property name'));
      }
      return off;
    };

    const struct = new Out();
    const emit = (node: FdtNode): void => {
      struct.u32(FDT_BEGIN_NODE);
      struct.raw(encodeString(node.name, 'node name'));
      struct.align4();
      for (const name of node.propNames()) {
        const value = node.get(name)!;
        struct.u32(FDT_PROP);
        struct.u32(value.length);
        struct.u32(nameOffset(name));
        struct.raw(value);
        struct.align4();
      }
      for (const child of node.children) emit(child);
      struct.u32(FDT_END_NODE);
    };
    emit(this.root);
    struct.u32(FDT_END);

    const rsvOffset = HEADER_SIZE; // 40: already 8-byte aligned, as the spec requires.
    const structOffset = rsvOffset + (this.reservations.length + 1) * RESERVE_ENTRY_SIZE;
    const stringsOffset = structOffset + struct.length;
    const end = stringsOffset + strings.length;
    const total = Math.max(end, options.minSize ?? 0);

    const blob = new Uint8Array(total);
    const view = new DataView(blob.buffer);
    const header = [
      FDT_MAGIC,
      total,
      structOffset,
      stringsOffset,
      rsvOffset,
      FDT_VERSION,
      FDT_LAST_COMP_VERSION,
      checkU32(this.bootCpuidPhys, 'boot_cpuid_phys'),
      strings.length,
      struct.length,
    ];
    for (const [i, v] of header.entries()) view.setUint32(i * 4, v);
    this.reservations.forEach((r, i) => {
      view.setBigUint64(rsvOffset + i * RESERVE_ENTRY_SIZE, r.address);
      view.setBigUint64(rsvOffset + i * RESERVE_ENTRY_SIZE + 8, r.size);
    });
    blob.set(struct.result(), structOffset);
    blob.set(strings.result(), stringsOffset);
    return blob;
  }

  /**
   * Reads a version 16 or 17 blob (anything whose last_comp_version we understand). Strict about
   * bounds and structure, since a blob may come from a user's file.
   */
  static parse(blob: Uint8Array): Fdt {
    const fail = (msg: string): never => {
      throw new Error(`bad devicetree blob: ${msg}`);
    };
    if (blob.length < HEADER_SIZE) fail(`${blob.length} bytes is shorter than the header`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const h = (i: number): number => view.getUint32(i * 4);
    if (h(0) !== FDT_MAGIC) fail(`magic 0x${h(0).toString(16)}`);
    const total = h(1);
    const structOffset = h(2);
    const stringsOffset = h(3);
    const rsvOffset = h(4);
    const version = h(5);
    const lastComp = h(6);
    if (total > blob.length) fail(`totalsize ${total} exceeds the ${blob.length} bytes given`);
    if (version < 16 || lastComp > FDT_VERSION) fail(`version ${version} (last compatible ${lastComp})`);
    const stringsSize = h(8);
    const structSize = version >= 17 ? h(9) : total - structOffset;
    if (stringsOffset + stringsSize > total) fail('strings block runs past totalsize');
    if (structOffset + structSize > total || structOffset & 3) fail('structure block misplaced');
    if (rsvOffset & 7 || rsvOffset < HEADER_SIZE) fail('memory reservation block misplaced');

    const fdt = new Fdt();
    fdt.bootCpuidPhys = h(7);

    for (let at = rsvOffset; ; at += RESERVE_ENTRY_SIZE) {
      if (at + RESERVE_ENTRY_SIZE > total) fail('memory reservation block is not terminated');
      const address = view.getBigUint64(at);
      const size = view.getBigUint64(at + 8);
      if (address === 0n && size === 0n) break;
      fdt.reservations.push({ address, size });
    }

    const structEnd = structOffset + structSize;
    let at = structOffset;
    const u32 = (): number => {
      if (at + 4 > structEnd) fail('structure block ends early');
      const v = view.getUint32(at);
      at += 4;
      return v;
    };
    const cstring = (from: number, limit: number): [string, number] => {
      const nul = blob.indexOf(0, from);
      if (nul < 0 || nul >= limit) fail('unterminated string');
      return [utf8Decoder.decode(blob.subarray(from, nul)), nul];
    };

    const stack: FdtNode[] = [];
    let sawRoot = false;
    for (;;) {
      const token = u32();
      if (token === FDT_NOP) continue;
      if (token === FDT_BEGIN_NODE) {
        const [name, nul] = cstring(at, structEnd);
        at = (nul + 4) & ~3;
        if (stack.length === 0) {
          if (sawRoot) fail('more than one root node');
          sawRoot = true;
          stack.push(fdt.root);
        } else {
          stack.push(stack[stack.length - 1].addNode(name));
        }
      } else if (token === FDT_PROP) {
        const len = u32();
        const nameoff = u32();
        if (stack.length === 0) fail('property outside any node');
        if (at + len > structEnd) fail('property value runs past the structure block');
        if (nameoff >= stringsSize) fail(`property name offset ${nameoff} out of range`);
        const [name] = cstring(stringsOffset + nameoff, stringsOffset + stringsSize);
        const node = stack[stack.length - 1];
        if (node.has(name)) fail(`duplicate property ${name}`);
        node.setBytes(name, blob.subarray(at, at + len));
        at = (at + len + 3) & ~3;
      } else if (token === FDT_END_NODE) {
        if (stack.length === 0) fail('unbalanced FDT_END_NODE');
        stack.pop();
      } else if (token === FDT_END) {
        if (stack.length !== 0 || !sawRoot) fail('FDT_END inside a node or before the root');
        break;
      } else {
        fail(`unknown token 0x${token.toString(16)} at offset ${at - 4}`);
      }
    }
    fdt.lastPhandle = fdt.maxPhandle();
    return fdt;
  }
}

/** Reads just the header's totalsize: what a loader needs to copy a blob whose end it does not know. */
export function fdtTotalSize(blob: Uint8Array): number {
  if (blob.length < 8) throw new Error('bad devicetree blob: shorter than the header');
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (view.getUint32(0) !== FDT_MAGIC) throw new Error('bad devicetree blob: wrong magic');
  return view.getUint32(4);
}

// Exposed for tests that build blobs by hand (NOP tokens, malformed structure).
export const FDT_TOKENS = { FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END } as const;
