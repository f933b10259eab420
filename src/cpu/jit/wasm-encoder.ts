/**
 * A small WebAssembly binary encoder: just what the JIT emits (one module per compiled region with an
 * imported memory and imported helpers, i32/i64 arithmetic, loads and stores, structured control flow).
 * Emitting bytes directly keeps compile latency to V8's own validation and Liftoff, with no library
 * in between (docs/cpu.md says why).
 *
 * Numbers follow the WebAssembly 2.0 core specification, section 5 (binary format).
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F64 = 0x7c;
export type ValType = typeof I32 | typeof I64 | typeof F64;

/** Block type of a structured instruction with no result. */
export const VOID = 0x40;

/** Opcodes used by the JIT (core spec 5.4). */
export const W = {
  unreachable: 0x00,
  nop: 0x01,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  brTable: 0x0e,
  return: 0x0f,
  call: 0x10,
  callIndirect: 0x11,
  drop: 0x1a,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i64Load: 0x29,
  i32Load8S: 0x2c,
  i32Load8U: 0x2d,
  i32Load16S: 0x2e,
  i32Load16U: 0x2f,
  i64Load8S: 0x30,
  i64Load8U: 0x31,
  i64Load16S: 0x32,
  i64Load16U: 0x33,
  i64Load32S: 0x34,
  i64Load32U: 0x35,
  i32Store: 0x36,
  i64Store: 0x37,
  i32Store8: 0x3a,
  i32Store16: 0x3b,
  i64Store8: 0x3c,
  i64Store16: 0x3d,
  i64Store32: 0x3e,
  i32Const: 0x41,
  i64Const: 0x42,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32GtS: 0x4a,
  i32GtU: 0x4b,
  i32LeS: 0x4c,
  i32LeU: 0x4d,
  i32GeS: 0x4e,
  i32GeU: 0x4f,
  i64Eqz: 0x50,
  i64Eq: 0x51,
  i64Ne: 0x52,
  i64LtS: 0x53,
  i64LtU: 0x54,
  i64GtS: 0x55,
  i64GtU: 0x56,
  i64LeS: 0x57,
  i64LeU: 0x58,
  i64GeS: 0x59,
  i64GeU: 0x5a,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32DivS: 0x6d,
  i32DivU: 0x6e,
  i32RemS: 0x6f,
  i32RemU: 0x70,
  i32And: 0x71,
  i32Or: 0x72,
  i32Xor: 0x73,
  i32Shl: 0x74,
  i32ShrS: 0x75,
  i32ShrU: 0x76,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64Mul: 0x7e,
  i64DivS: 0x7f,
  i64DivU: 0x80,
  i64RemS: 0x81,
  i64RemU: 0x82,
  i64And: 0x83,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Shl: 0x86,
  i64ShrS: 0x87,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
  i64ExtendI32S: 0xac,
  i64ExtendI32U: 0xad,
} as const;

/** A growable byte buffer with the LEB128 encodings the format uses. */
export class ByteWriter {
  private buf: Uint8Array;
  length = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const grown = new Uint8Array(cap);
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
  }

  byte(b: number): this {
    this.room(1);
    this.buf[this.length++] = b;
    return this;
  }

  bytes(bs: ArrayLike<number>): this {
    this.room(bs.length);
    for (let i = 0; i < bs.length; i++) this.buf[this.length++] = bs[i];
    return this;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^32. */
  u32(v: number): this {
    let x = v >>> 0;
    do {
      let b = x & 0x7f;
      x >>>= 7;
      if (x !== 0) b |= 0x80;
      this.byte(b);
    } while (x !== 0);
    return this;
  }

  /**
   * Signed LEB128 of an integer in the safe range (|v| < 2^53), for i32.const and i64.const. Works on
   * doubles, not 32-bit words, so i64 constants above 2^31 need no BigInt.
   */
  sleb(v: number): this {
    let x = v;
    for (;;) {
      const b = ((x % 128) + 128) % 128;
      x = Math.floor(x / 128);
      const done = (x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  name(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    return this.u32(utf8.length).bytes(utf8);
  }

  /** A vector of pre-encoded items: count, then the bytes. */
  section(id: number, count: number, body: ByteWriter): this {
    const content = new ByteWriter(body.length + 8);
    content.u32(count).bytes(body.view());
    return this.byte(id).u32(content.length).bytes(content.view());
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

interface ImportedFunc {
  module: string;
  name: string;
  type: number;
}

interface DefinedFunc {
  type: number;
  locals: ValType[];
  body: ByteWriter;
  exportName?: string;
}

/**
 * Builds one module: imported memory (the hart's state and RAM), an imported table, imported functions
 * first in the function index space, then defined functions.
 */
export class ModuleBuilder {
  private readonly types: FuncType[] = [];
  private readonly imports: ImportedFunc[] = [];
  private readonly funcs: DefinedFunc[] = [];
  private memory: {
    module: string;
    name: string;
    minPages: number;
    maxPages: number;
    shared: boolean;
  } | null = null;
  private table: { module: string; name: string; minSize: number } | null = null;

  /** The index of `type` in the type section (types are shared when equal). */
  type(params: ValType[], results: ValType[]): number {
    const i = this.types.findIndex(
      (t) =>
        t.params.length === params.length &&
        t.results.length === results.length &&
        t.params.every((p, k) => p === params[k]) &&
        t.results.every((r, k) => r === results[k]),
    );
    if (i >= 0) return i;
    this.types.push({ params, results });
    return this.types.length - 1;
  }

  importMemory(module: string, name: string, minPages: number, maxPages: number, shared = false): void {
    this.memory = { module, name, minPages, maxPages, shared };
  }

  /** Imports a table of functions (table 0, for call_indirect) of at least `minSize` entries. */
  importTable(module: string, name: string, minSize: number): void {
    this.table = { module, name, minSize };
  }

  /** Imports a function; returns its function index. Call before adding defined functions. */
  importFunction(module: string, name: string, params: ValType[], results: ValType[]): number {
    if (this.funcs.length > 0) throw new Error('imports must come before defined functions');
    this.imports.push({ module, name, type: this.type(params, results) });
    return this.imports.length - 1;
  }

  /** Adds a function; returns its index. Its body (without the locals header) is written later. */
  addFunction(
    params: ValType[],
    results: ValType[],
    locals: ValType[],
    exportName?: string,
  ): {
    index: number;
    body: ByteWriter;
  } {
    const body = new ByteWriter(4096);
    this.funcs.push({ type: this.type(params, results), locals, body, exportName });
    return { index: this.imports.length + this.funcs.length - 1, body };
  }

  build(): Uint8Array {
    const out = new ByteWriter(1024);
    out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

    const types = new ByteWriter();
    for (const t of this.types) {
      types.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
    }
    out.section(1, this.types.length, types);

    const imports = new ByteWriter();
    let importCount = 0;
    if (this.memory) {
      const m = this.memory;
      imports
        .name(m.module)
        .name(m.name)
        .byte(0x02)
        .byte(m.shared ? 0x03 : 0x01)
        .u32(m.minPages)
        .u32(m.maxPages);
      importCount++;
    }
    if (this.table) {
      // funcref, limits with a minimum only.
      imports
        .name(this.table.module)
        .name(this.table.name)
        .byte(0x01)
        .byte(0x70)
        .byte(0x00)
        .u32(this.table.minSize);
      importCount++;
    }
    for (const f of this.imports) {
      imports.name(f.module).name(f.name).byte(0x00).u32(f.type);
      importCount++;
    }
    out.section(2, importCount, imports);

    const funcs = new ByteWriter();
    for (const f of this.funcs) funcs.u32(f.type);
    out.section(3, this.funcs.length, funcs);

    const exports = new ByteWriter();
    let exportCount = 0;
    this.funcs.forEach((f, i) => {
      if (f.exportName === undefined) return;
      exports
        .name(f.exportName)
        .byte(0x00)
        .u32(this.imports.length + i);
      exportCount++;
    });
    out.section(7, exportCount, exports);

    const code = new ByteWriter(4096);
    for (const f of this.funcs) {
      const entry = new ByteWriter(f.body.length + 16);
      // Locals are declared as runs of one type.
      const runs: [number, ValType][] = [];
      for (const t of f.locals) {
        const last = runs[runs.length - 1];
        if (last && last[1] === t) last[0]++;
        else runs.push([1, t]);
      }
      entry.u32(runs.length);
      for (const [n, t] of runs) entry.u32(n).byte(t);
      entry.bytes(f.body.view()).byte(W.end);
      code.u32(entry.length).bytes(entry.view());
    }
    out.section(10, this.funcs.length, code);
    return out.view().slice();
  }
}
