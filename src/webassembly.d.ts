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
}
