/**
 * The part of the WebAssembly JS API the project uses. Node provides it at run time; TypeScript only
 * declares it in the DOM library, which would bring browser globals into server code.
 */
declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  // Exported and imported functions have shapes only the caller knows; it narrows them.
  type AnyFunction = (...args: never[]) => unknown;
  interface TableDescriptor {
    element: 'anyfunc';
    initial: number;
    maximum?: number;
  }
  /** A table of functions; only functions exported by wasm modules (or null) may be put in it. */
  class Table {
    constructor(descriptor: TableDescriptor);
    readonly length: number;
    get(index: number): AnyFunction | null;
    set(index: number, value: AnyFunction | null): void;
  }
  type ExportValue = AnyFunction | Memory;
  type Exports = Record<string, ExportValue>;
  type ImportValue = AnyFunction | Memory | Table | number;
  type Imports = Record<string, Record<string, ImportValue>>;
  class Module {
    constructor(bytes: BufferSource);
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  function compile(bytes: BufferSource): Promise<Module>;
  function validate(bytes: BufferSource): boolean;
}
